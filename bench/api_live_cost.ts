/**
 * nomnom's live API against baseline M's handler in ONE process: `run("api")` starts the API exactly as
 * `nomnom --role=api` does (src/app.ts: its instrumented publisher, metrics, request ids, listener), and M's
 * handler (bench/minimal_service.ts) listens beside it on a second port through the same serveHttp() and the
 * same NATS connection. wrk loads one port at a time, alternating, and each run is charged the process's CPU
 * time (user + system, /proc/self/stat). Whatever the process as a whole costs (heap size, timers, the NATS
 * and PostgreSQL clients, modules loaded) is the same for both, so the difference is the request path alone.
 *
 *   deno run -A bench/api_live_cost.ts [--rounds=5] [--seconds=2] [--c=1,16,64]
 *   bun run bench/api_live_cost.ts …
 *
 * Needs wrk, NATS at $NOMNOM_TEST_NATS_URL (default nats://127.0.0.1:4222) and PostgreSQL at
 * $NOMNOM_TEST_PG_URL (a database of its own is created and dropped).
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Hono } from "hono";
import postgres from "postgres";
import { v7 as uuidv7 } from "uuid";
import { serveHttp } from "../src/api/serve.ts";
import { run } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { silentLogger } from "../src/log.ts";
import { loadRegistry } from "../src/registry/load.ts";
import { generateOrders } from "./orders.ts";

const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback;
const ROUNDS = Number(arg("rounds", "5"));
const SECONDS = Number(arg("seconds", "2"));
const CONCURRENCY = arg("c", "1,16,64").split(",").map(Number);
const ROOT = new URL("../", import.meta.url).pathname;
const ENTITIES = join(ROOT, "tests/fixtures/nomnom-tpch/entities");
const NATS_URL = process.env.NOMNOM_TEST_NATS_URL ?? "nats://127.0.0.1:4222";
const PG_URL = process.env.NOMNOM_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

const id = `live${Date.now().toString(36)}`;
const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
await admin.unsafe(`CREATE DATABASE "nomnom_${id}"`);
const work = await mkdtemp(join(tmpdir(), "nomnom-live-cost-"));
const bodies = join(work, "orders.txt");
await writeFile(bodies, generateOrders(20_000, 42).map((o) => JSON.stringify(o)).join("\n") + "\n");

const config = loadConfig([
  `--namespace=${id}`,
  `--entities=${ENTITIES}`,
  `--nats-url=${NATS_URL}`,
  `--database-url=${Object.assign(new URL(PG_URL), { pathname: `/nomnom_${id}` })}`,
  "--role=api",
  "--host=127.0.0.1",
  "--port=0",
  `--stream-max-bytes=${512 * 1024 ** 2}`,
  `--dlq-max-bytes=${64 * 1024 ** 2}`,
], {});
const api = await run("api", { config, registry: await loadRegistry(ENTITIES), log: silentLogger });
const { js, jsm } = api.runtime.nats!;
const topology = api.runtime.topology;

// Baseline M's handler, publishing to the same stream.
const minimal = new Hono();
minimal.post("/ingest/message/:entity", async (c) => {
  const body = await c.req.text();
  JSON.parse(body);
  const messageId = uuidv7();
  await js.publish(topology.ingestSubject(c.req.param("entity"), messageId), body, { msgID: messageId });
  return c.json({ message_id: messageId }, 202);
});
const m = await serveHttp(minimal.fetch, "127.0.0.1", 0);
const ports: Record<string, number> = { nomnom: api.runtime.server!.port, M: m.port };

/** Process CPU time in µs (utime + stime, clock ticks of 1/100 s). */
async function cpuUs(): Promise<number> {
  const stat = await readFile("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

function wrk(port: number, c: number): Promise<{ requests: number; non_2xx: number; socket_errors: number }> {
  return new Promise((resolve, reject) =>
    execFile(
      "wrk",
      [
        ...["-t", String(Math.min(2, c)), "-c", String(c), "-d", `${SECONDS}s`, "--timeout", "30s"],
        ...["-s", join(ROOT, "bench/post.lua"), `http://127.0.0.1:${port}/ingest/message/Order`],
      ],
      { env: { ...process.env, BENCH_BODIES: bodies, BENCH_CONTENT_TYPE: "application/json" } },
      (error, stdout) => error ? reject(error) : resolve(JSON.parse(stdout.trim().split("\n").at(-1)!)),
    )
  );
}

/** CPU µs per accepted request of one wrk run against `name`. */
async function measure(name: string, c: number): Promise<number> {
  const before = await cpuUs();
  const r = await wrk(ports[name], c);
  const used = (await cpuUs()) - before;
  const ok = r.requests - r.non_2xx - r.socket_errors;
  if (ok === 0) throw new Error(`${name} at c=${c}: no request succeeded (${r.non_2xx} non-2xx)`);
  await jsm.streams.purge(topology.ingest.name);
  return used / ok;
}

try {
  for (const name of Object.keys(ports)) await wrk(ports[name], 16); // warm up (JIT)
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const c of CONCURRENCY) {
    const runs: Record<string, number[]> = { nomnom: [], M: [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const name of r % 2 ? ["M", "nomnom"] : ["nomnom", "M"]) runs[name].push(await measure(name, c));
    }
    const differences = runs.nomnom.map((n, i) => n - runs.M[i]);
    const list = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(" ");
    console.log(
      `c=${String(c).padEnd(3)} nomnom ${median(runs.nomnom).toFixed(0).padStart(4)}  M ${
        median(runs.M).toFixed(0).padStart(4)
      }  nomnom − M ${median(differences).toFixed(0).padStart(4)} µs CPU a request (medians of ${ROUNDS}; ` +
        `nomnom ${list(runs.nomnom)}; M ${list(runs.M)})`,
    );
  }
} finally {
  await m.close();
  for (const s of topology.streams) await jsm.streams.delete(s.name).catch(() => {});
  await api.stop();
  await admin.unsafe(`DROP DATABASE IF EXISTS "nomnom_${id}" WITH (FORCE)`);
  await admin.end();
  await rm(work, { recursive: true, force: true });
}
