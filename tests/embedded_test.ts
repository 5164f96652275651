/**
 * The demo's embedded defaults, run from source: data survives a restart, one demo per data dir, a Ctrl-C
 * drains before the child nats-server stops, which never outlives nomnom (even when nomnom is killed
 * outright), and a missing or failing nats-server is a clear error.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { PGlite } from "@electric-sql/pglite";
import { startEmbeddedNats } from "../src/embedded/nats.ts";
import { silentLogger } from "../src/log.ts";
import { loadRegistry } from "../src/registry/load.ts";
import { createSampleMessage } from "../src/registry/sample.ts";
import { post, waitFor } from "./harness.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** `detached`: the demo leads its own process group, as a command started from a terminal does. */
function demo(dataDir: string, env: Record<string, string> = {}, detached = false) {
  const child: ChildProcess = spawn(process.execPath, [
    "run",
    "-A",
    join(ROOT, "main.ts"),
    "--port=0",
    `--data-dir=${dataDir}`,
  ], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    detached,
    env: { ...process.env, NATS_URL: "", DATABASE_URL: "", ...env },
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (c) => out += c);
  child.stderr!.on("data", (c) => err += c);
  const exited = new Promise<number | string | null>((r) =>
    child.once("exit", (code, signal) => r(code ?? signal))
  );
  // The banner, or the reason there is none: a demo that exits first fails the wait at once, with its stderr.
  let banner: Promise<string> | undefined;
  const url = () =>
    banner ??= Promise.race([
      waitFor("the banner", () => out.match(/API +(http:\S+)/)?.[1], 60_000),
      exited.then((code) => {
        throw new Error(`the demo exited (${code}) before its banner:\n${err}`);
      }),
    ]);
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

function processGroup(pid: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(
      "ps",
      ["-o", "pgid=", "-p", pid],
      (error, stdout) => error ? reject(error) : resolve(stdout.trim()),
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

    // The rows themselves are on disk: a fresh PGlite on the data dir finds the order and its line item.
    const db = await PGlite.create(join(dataDir, "pg"));
    try {
      for (const name of ["Order", "OrderLineItem"]) {
        const table = registry.entities.get(name)!.storage!.table;
        const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
        assert.equal(rows[0].n, 1, `${table} kept its row`);
      }
    } finally {
      await db.close();
    }

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

Deno.test("a second demo on a data dir in use stops at once, naming the dir and the other demo's pid", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "nomnom-demo-"));
  const first = demo(dataDir);
  try {
    await first.url();
    const second = demo(dataDir);
    assert.equal(await Promise.race([second.exited, second.url().then(() => "started")]), 1);
    assert.match(
      second.err(),
      new RegExp(`data dir ${dataDir} is in use by another nomnom \\(pid ${first.child.pid}\\)`),
    );
    const status = await fetch(`${await first.url()}/ready`);
    assert.equal(status.status, 200, "the first demo runs on, untouched");
    await status.body?.cancel();
  } finally {
    if (first.child.exitCode === null) process.kill(first.child.pid!, "SIGTERM");
    assert.equal(await first.exited, 0);
    await rm(dataDir, { recursive: true, force: true });
  }
});

Deno.test("Ctrl-C in a terminal (SIGINT to the demo's process group) drains with NATS still up, then stops it", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "nomnom-demo-"));
  try {
    const run = demo(dataDir, {}, true);
    await run.url();
    const server = await natsServers(dataDir);
    assert.notEqual(server, "");
    // Idle, nomnom usually wins the race against a server that got the SIGINT too; with a batch in flight
    // it loses. What decides it: the server is outside the group a terminal signals.
    assert.notEqual(
      await processGroup(server),
      String(run.child.pid),
      "nats-server has its own process group",
    );
    process.kill(-run.child.pid!, "SIGINT"); // what the terminal does: the whole foreground group
    assert.equal(await run.exited, 0);
    const problems = run.err().split("\n").filter((l) => /"level":"(error|warn)"/.test(l));
    assert.deepEqual(problems, [], "a clean drain: no errors or warnings on the way out");
    assert.match(run.err(), /"msg":"stopped"/);
    assert.equal(await natsServers(dataDir), "");
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

Deno.test("a nats-server that fails to start is reported with its own last words", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "nomnom-demo-"));
  try {
    await mkdir(join(dataDir, "nats"), { recursive: true });
    await writeFile(join(dataDir, "nats", "jetstream"), "not a directory");
    await assert.rejects(
      startEmbeddedNats(dataDir, "nats-server", silentLogger),
      /did not start: it exited \(1\)\. Its last output:\n(.*\n)*.*Can't start JetStream: storage directory is not a directory/,
    );
    assert.ok(!existsSync(join(dataDir, "nomnom.lock")), "it gave the data dir back");
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
