/**
 * The compiled binary (bun build --compile) on its own: copied to an empty directory it runs the demo on
 * embedded defaults, and as separate api and worker processes against the live NATS and PostgreSQL.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { copyFile, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { loadRegistry } from "../src/registry/load.ts";
import { createSampleMessage } from "../src/registry/sample.ts";
import { createTestEnv, post, statuses, TPCH, waitFor } from "./harness.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const BUN = join(ROOT, "node_modules/.bin/bun");

function run(cmd: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(
      cmd,
      args,
      { cwd },
      (error, stdout, stderr) => error ? reject(new Error(stderr || String(error))) : resolve(stdout),
    )
  );
}

type Started = {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | string | null>;
};

function start(binary: string, args: string[], cwd: string): Started {
  const child = spawn(binary, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (c) => out += c);
  child.stderr!.on("data", (c) => err += c);
  const exited = new Promise<number | string | null>((r) =>
    child.once("exit", (code, signal) => r(code ?? signal))
  );
  return { child, out: () => out, err: () => err, exited };
}

async function stop(p: Started) {
  if (p.child.exitCode === null) process.kill(p.child.pid!, "SIGTERM");
  return await p.exited;
}

Deno.test("the compiled binary runs the demo alone in an empty directory, and api + worker against live services", async () => {
  const dir = await mkdtemp(join(tmpdir(), "nomnom-binary-"));
  const processes: Started[] = [];
  const env = await createTestEnv();
  try {
    await run(BUN, [
      "build",
      "--compile",
      "--minify",
      "build/bun_main.ts",
      "--outfile",
      join(dir, "nomnom-build"),
    ], ROOT);
    await copyFile(join(dir, "nomnom-build"), join(dir, "nomnom"));
    await rm(join(dir, "nomnom-build"));
    const binary = join(dir, "nomnom");

    // 1. Embedded defaults: no NATS_URL, no DATABASE_URL, no entities folder.
    const demo = start(binary, ["--port=0"], dir);
    processes.push(demo);
    const api = await waitFor("the demo's banner", () => demo.out().match(/API +(http:\S+)/)?.[1], 60_000);
    assert.match(demo.out(), /data dir .*\.nomnom — embedded PostgreSQL \(PGlite\) and NATS/);
    const registry = await loadRegistry(join(ROOT, "entities"));
    // The README's curl posts entities/examples/order.json; the banner's curl a sample made from the entities.
    const example = JSON.parse(await readFile(join(ROOT, "entities/examples/order.json"), "utf8"));
    assert.equal((await post(`${api}/ingest/message/Order`, example)).status, 202);
    const sample = createSampleMessage(registry, registry.entities.get("Order")!);
    const accepted = await post(`${api}/ingest/message/Order`, sample);
    assert.equal(accepted.status, 202);
    await waitFor("the order completed", async () => {
      const r = await fetch(`${api}/ingest/status/${accepted.body.message_id}`);
      return (await r.json()).status === "completed";
    }, 20_000);
    assert.equal(
      (await fetch(`${api}/docs/assets/swagger-ui-bundle.js`)).status,
      200,
      "Swagger UI is inside",
    );
    assert.equal(await stop(demo), 0);
    assert.ok((await readdir(join(dir, ".nomnom"))).includes("pg"), "data in the data dir");
    const orphans = await run("sh", ["-c", `pgrep -f 'nats-serve[r] .*${dir}/.nomnom/nats' || true`], dir);
    assert.equal(orphans.trim(), "", "no nats-server left behind");

    // 2. Separate api and worker processes of the same binary on the live services.
    const flags = [
      `--namespace=${env.namespace}`,
      `--entities=${TPCH}entities`,
      `--nats-url=${env.config.natsUrl}`,
      `--database-url=${env.config.databaseUrl}`,
      "--stream-max-bytes=67108864",
      "--dlq-max-bytes=16777216",
    ];
    const worker = start(binary, ["--role=worker", "--ops-port=0", ...flags], dir);
    processes.push(worker);
    const apiProcess = start(binary, ["--role=api", "--port=0", ...flags], dir);
    processes.push(apiProcess);
    const apiUrl = await waitFor(
      "the api's banner",
      () => apiProcess.out().match(/API +(http:\S+)/)?.[1],
      30_000,
    );
    await waitFor("the worker", () => worker.err().includes("worker started"), 30_000);
    // The image's HEALTHCHECK (no role): nothing on the API port, so it finds the worker on its ops port.
    const opsPort = await waitFor(
      "the worker's ops port",
      () => worker.err().match(/"worker ops listening".*"url":"http:\/\/[^"]*:(\d+)"/)?.[1],
    );
    const probe = start(binary, ["healthcheck", "ready", "--port=1", `--ops-port=${opsPort}`], dir);
    assert.equal(await probe.exited, 0, probe.out());
    const order = JSON.parse(await readFile(TPCH + "example_order.json", "utf8"));
    const r = await post(`${apiUrl}/ingest/message/Order`, order);
    assert.equal(r.status, 202);
    const id = r.body.message_id as string;
    await waitFor(
      "completed by the worker process",
      async () => (await statuses(env.sql, [id])).get(id) === "completed",
    );
    const [{ items }] = await env.sql`SELECT count(*)::int AS items FROM order_line_items`;
    assert.equal(items, 2);
  } finally {
    for (const p of processes) await stop(p).catch(() => {});
    await env.close();
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("the binary embeds exactly the example entities of entities/", async () => {
  const entry = await readFile(join(ROOT, "build/bun_main.ts"), "utf8");
  const embedded = [...entry.matchAll(/"\.\.\/entities\/([\w.]+)"/g)].map((m) => m[1]).sort();
  const onDisk = (await readdir(join(ROOT, "entities"))).filter((n) => /\.ya?ml$/.test(n)).sort();
  assert.deepEqual(embedded, onDisk);
});
