/**
 * The demo's embedded defaults, run from source: data survives a restart, the child nats-server never outlives
 * nomnom (even when nomnom is killed outright), and a missing nats-server is a clear error.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { loadRegistry } from "../src/registry/load.ts";
import { createSampleMessage } from "../src/registry/sample.ts";
import { post, waitFor } from "./harness.ts";

const ROOT = new URL("../", import.meta.url).pathname;

function demo(dataDir: string, env: Record<string, string> = {}) {
  const child: ChildProcess = spawn(process.execPath, [
    "run",
    "-A",
    join(ROOT, "main.ts"),
    "--port=0",
    `--data-dir=${dataDir}`,
  ], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NATS_URL: "", DATABASE_URL: "", ...env },
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (c) => out += c);
  child.stderr!.on("data", (c) => err += c);
  const exited = new Promise<number | string | null>((r) =>
    child.once("exit", (code, signal) => r(code ?? signal))
  );
  const url = () => waitFor("the banner", () => out.match(/API +(http:\S+)/)?.[1], 60_000);
  return { child, url, exited, err: () => err };
}

function natsServers(dataDir: string): Promise<string> {
  return new Promise((resolve) =>
    execFile(
      "sh",
      ["-c", `pgrep -f 'nats-serve[r] .*${dataDir}/nats' || true`],
      (_, stdout) => resolve(stdout.trim()),
    )
  );
}

Deno.test("the embedded demo keeps its data across a restart and leaves no nats-server behind, even when killed", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "nomnom-demo-"));
  try {
    const first = demo(dataDir);
    const registry = await loadRegistry(join(ROOT, "entities"));
    const accepted = await post(
      `${await first.url()}/ingest/message/Order`,
      createSampleMessage(registry, registry.entities.get("Order")!),
    );
    const id = accepted.body.message_id as string;
    await waitFor(
      "completed",
      async () =>
        (await (await fetch(`${await first.url()}/ingest/status/${id}`)).json()).status === "completed",
    );
    process.kill(first.child.pid!, "SIGTERM");
    assert.equal(await first.exited, 0);
    assert.equal(await natsServers(dataDir), "");

    const second = demo(dataDir);
    const status = await (await fetch(`${await second.url()}/ingest/status/${id}`)).json();
    assert.equal(status.status, "completed", "the status survived the restart");
    assert.notEqual(await natsServers(dataDir), "");
    process.kill(second.child.pid!, "SIGKILL"); // a crash: no chance to clean up
    await second.exited;
    await waitFor("the orphaned nats-server to go", async () => (await natsServers(dataDir)) === "", 5_000);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

Deno.test("without a nats-server the demo says how to get one", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "nomnom-demo-"));
  try {
    const run = demo(dataDir, { NOMNOM_NATS_SERVER: "/nonexistent/nats-server" });
    assert.equal(await run.exited, 1);
    assert.match(
      run.err(),
      /No nats-server found at NOMNOM_NATS_SERVER=\/nonexistent\/nats-server.*apt-get install nats-server/,
    );
    assert.match(run.err(), /--nats-url \(NATS_URL\)/);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
