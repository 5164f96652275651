/**
 * `deno task bench [--quick] [--runtime=deno|bun]`: nomnom measured side by side with the physical limits, in
 * one run, on this machine, against the live NATS and PostgreSQL (isolated namespace and database).
 *
 *   A  raw JetStream: acked publishes of the same payloads from one client, concurrency 1/16/64
 *   B  raw PostgreSQL: the same rows upserted with plain multi-row unnest statements, no nomnom code
 *   M  the minimal service: Hono + nats.js by hand (parse, publish with ack, 202), same runtime and load as 3
 *   C  the minimal consumer: fetch, JSON.parse, B's unnest upsert, ack; same runtime and backlog as 5
 *   3  nomnom API, one message per POST, concurrency 1/16/64 (load from wrk, a separate process)
 *   4  nomnom API, NDJSON batches of 100 and 1,000 lines
 *   5  nomnom workers draining a pre-filled backlog (1, 2, 4 worker processes; 1 worker on the other runtime)
 *   6  --role=all end to end under sustained load: throughput, accept and accept→commit latency, peak RSS;
 *      then paced at 70 % of that throughput (open loop): accept→commit latency (is the worker starved?)
 *   G  phase 5's one-worker drain again, into tables already holding millions of rows (orders, line items and
 *      status rows over several day partitions), against the same drain into empty tables
 *   R  start → /ready of each role against the live services (median of 3 starts), and its RSS when idle;
 *      with --binary=./nomnom also the compiled binary's
 *   E  the embedded demo (PGlite and a nats-server child, no URLs): first start on an empty data dir and a
 *      restart on it, start → /ready (median of 3), and the slowest /health while a 2 s query runs in its
 *      database (asked every 10 ms); with --binary also the binary's
 *
 * Prints one table with the ratios 3÷M and 3÷A, 4÷A, 5÷C and 5÷B, G÷5 and writes the same as JSON under bench/results/. Every phase
 * checks that nothing was lost (by id where the bench made the ids, by count where wrk did: wrk does not count
 * requests still in flight when it stops, so the stream may hold a few more than it reports, never fewer).
 * M, 3 and 4 also report the CPU time (user + system) the process under test spent per message: other load on a
 * shared machine inflates it far less than the rates, so it compares nomnom's API with M when the rates swing.
 * C, 5 and G report it for the consumer or the workers (from the first message completed on).
 * `--only=A,B,M,C,3,4,5,G,6,R,E` runs some phases (ratios need their baseline in the same run); `--workers=1`
 * limits phase 5 to those worker counts, `--backlog=N` sets the orders of each drain. `--worker-v8-flags=A,B`
 * and `--worker-preload=FILE` start the drains' Deno workers with those V8 flags or that preloaded module
 * (bench/heap_sampler.ts: what their memory is made of), for trying heap settings on the worker alone;
 * `--worker-cpu-prof=DIR` has them write a V8 CPU profile to DIR when they stop.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { cpus, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";
import { v7 as uuidv7 } from "uuid";
import { loadConfig } from "../src/config.ts";
import { silentLogger } from "../src/log.ts";
import { loadRegistry } from "../src/registry/load.ts";
import { createEnvelopeHeaders } from "../src/stream/envelope.ts";
import { ensureTopology } from "../src/stream/ensure.ts";
import { createTopology } from "../src/stream/topology.ts";
import { createBaselineTables, dropBaselineTables, upsertBaseline } from "./baseline_sql.ts";
import { benchFlags, nomnomCommand, type NomnomRuntime, scriptCommand } from "./nomnom_command.ts";
import { generateOrders, type Order } from "./orders.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const quick = process.argv.includes("--quick");
const runtime = process.argv.find((a) => a.startsWith("--runtime="))?.split("=")[1] ?? "deno";
const only = process.argv.find((a) => a.startsWith("--only="))?.split("=")[1].split(",");
/** `--binary=./nomnom`: phase R also times this compiled binary (what the image ships). */
const binary = process.argv.find((a) => a.startsWith("--binary="))?.split("=")[1];
const runs = (phase: string) => !only || only.includes(phase);
const NATS_URL = process.env.NOMNOM_TEST_NATS_URL ?? "nats://127.0.0.1:4222";
const PG_URL = process.env.NOMNOM_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const SECONDS = quick ? 3 : 10;
/** `--backlog=N`: orders each drain (C, 5, G) works through; more gives steadier drain figures. */
const BACKLOG = Number(process.argv.find((a) => a.startsWith("--backlog="))?.split("=")[1] ?? 0) ||
  (quick ? 5_000 : 50_000);
/** `--workers=1,2`: phase 5's drains with these worker counts only (and not the other runtime's). */
const drainWorkers = process.argv.find((a) => a.startsWith("--workers="))?.split("=")[1].split(",").map(
  Number,
);
/** `--worker-v8-flags=A,B` and `--worker-preload=FILE`: how the drains (C excepted) start Deno workers. */
const workerV8Flags = process.argv.find((a) => a.startsWith("--worker-v8-flags="))?.split("=").slice(1).join(
  "=",
);
const workerPreload = process.argv.find((a) => a.startsWith("--worker-preload="))?.split("=")[1];
/** `--worker-cpu-prof=DIR`: the drains' Deno workers write a V8 CPU profile there when they stop. */
const workerCpuProf = process.argv.find((a) => a.startsWith("--worker-cpu-prof="))?.split("=")[1];
const E2E_SECONDS = quick ? 6 : 60;
const CONCURRENCY = [1, 16, 64];
const ENTITIES = join(ROOT, "tests/fixtures/nomnom-tpch/entities");

type Row = {
  name: string;
  msgs_per_s: number;
  rows_per_s?: number;
  p50_ms?: number;
  p95_ms?: number;
  p99_ms?: number;
  /** This row as a fraction of each baseline it is judged against (measured in this run). */
  ratios?: { of: string; value: number }[];
  rss_mb?: number;
  /** CPU time (user + system) of the process under test per message: what other load inflates least. */
  cpu_us_per_msg?: number;
  lost?: number;
  note?: string;
};
const rows: Row[] = [];
const commands = {
  deno: await nomnomCommand("deno"),
  bun: await nomnomCommand("bun"),
  binary: binary ? await nomnomCommand("binary", binary) : undefined,
};
const denoWorker = {
  ...commands.deno,
  args: [
    ...commands.deno.args.slice(0, -1),
    ...workerV8Flags ? [`--v8-flags=${workerV8Flags}`] : [],
    ...workerPreload ? [`--preload=${join(process.cwd(), workerPreload)}`] : [],
    ...workerCpuProf ? ["--cpu-prof", `--cpu-prof-dir=${resolve(workerCpuProf)}`] : [],
    commands.deno.args.at(-1)!,
  ],
};
const baselineRuntime = runtime === "deno" ? "deno" : "bun";
const scripts: Record<string, Awaited<ReturnType<typeof scriptCommand>>> = {
  "bench/minimal_service.ts": await scriptCommand(baselineRuntime, "bench/minimal_service.ts"),
  "bench/minimal_consumer.ts": await scriptCommand(baselineRuntime, "bench/minimal_consumer.ts"),
};
const log = (line: string) => console.error(`[bench] ${line}`);

// ---------- setup ----------
const id = `b${Date.now().toString(36)}`;
const database = `nomnom_bench_${id}`;
const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
await admin.unsafe(`CREATE DATABASE "${database}"`);
const dbUrl = Object.assign(new URL(PG_URL), { pathname: `/${database}` }).toString();
const sql = postgres(dbUrl, { max: 4, onnotice: () => {} });
const nc = await connect({ servers: NATS_URL });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
const registry = await loadRegistry(ENTITIES);
const work = await mkdtemp(join(tmpdir(), "nomnom-bench-"));
const children: ChildProcess[] = [];

const flags = (namespace: string) =>
  benchFlags({ namespace, entities: ENTITIES, natsUrl: NATS_URL, databaseUrl: dbUrl });
const topologyOf = (namespace: string) => createTopology(loadConfig(flags(namespace), {}), registry);

async function resetNamespace(namespace: string) {
  const t = topologyOf(namespace);
  for (const s of t.streams) await jsm.streams.delete(s.name).catch(() => {});
  await ensureTopology(jsm, t, silentLogger);
  return t;
}

async function resetTables() {
  await sql.unsafe(`DO $$ BEGIN
    IF to_regclass('orders') IS NOT NULL THEN TRUNCATE orders, order_line_items, nomnom.messages; END IF; END $$`);
}

function percentile(sorted: number[], p: number) {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
/** `value` as a fraction of a baseline measured in this run (none when that phase did not run). */
const ratio = (of: string, value: number, baseline: number | undefined) =>
  baseline ? { of, value: round(value / baseline, 2) } : undefined;
/** The ratios of `value` to each `[name, baseline]` that was measured. */
const ratiosOf = (value: number, ...baselines: [string, number | undefined][]) =>
  baselines.map(([of, b]) => ratio(of, value, b)).filter((r) => r !== undefined);

type Started = { child: ChildProcess; url: () => Promise<string>; out: () => string; err: () => string };

function startNomnom(args: string[], rt = runtime, env: Record<string, string> = {}): Started {
  // Bun runs with the JSC settings the image sets (ENV BUN_JSC_* in the Dockerfile), so that the figures are
  // the image's.
  const command = commands[rt as NomnomRuntime]!;
  return startProcess({ ...command, env: { ...command.env, ...env } }, args);
}

/** A baseline script of bench/ on the bench's runtime (the binary's runtime is Bun). */
function startScript(script: string, args: string[]): Started {
  return startProcess(scripts[script]!, args);
}

function startProcess(
  { command, args: pre, env }: { command: string; args: string[]; env: Record<string, string | undefined> },
  args: string[],
): Started {
  const child = spawn(command, [...pre, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
  children.push(child);
  let out = "";
  let err = "";
  child.stdout!.on("data", (c) => out += c);
  child.stderr!.on("data", (c) => err += c);
  const url = async () => {
    for (let i = 0; i < 600; i++) {
      const m = out.match(/API +(http:\S+)/);
      if (m) return m[1];
      if (child.exitCode !== null) throw new Error(`${command} exited: ${err.slice(-500)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${command} did not print its banner`);
  };
  return { child, url, out: () => out, err: () => err };
}

async function stopNomnom(child: ChildProcess) {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  process.kill(child.pid!, "SIGTERM");
  await exited;
}

/** A loopback port nobody listens on (closed again before nomnom takes it). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * The slowest /health of the demo on `port` while `SELECT pg_sleep(2)` runs in its embedded database (reached
 * through the banner's psql URL, as a person would): PGlite's own thread must keep the API answering.
 */
async function healthDuringSlowQuery(port: number, banner: () => string): Promise<number> {
  // /ready turns true a moment before the banner is printed (the demo writes services.json in between).
  let dbUrl: string | undefined;
  for (let i = 0; i < 200 && !dbUrl; i++) {
    dbUrl = banner().match(/psql +psql '([^']+)'/)?.[1];
    if (!dbUrl) await new Promise((r) => setTimeout(r, 50));
  }
  if (!dbUrl) throw new Error("the demo's banner has no psql line");
  const db = postgres(dbUrl, { max: 1, onnotice: () => {} });
  try {
    let running = true;
    const query = db`SELECT pg_sleep(2)`.finally(() => running = false);
    let slowest = 0;
    while (running) {
      const asked = performance.now();
      const ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
      if (!ok) throw new Error("/health failed while the slow query ran");
      slowest = Math.max(slowest, performance.now() - asked);
      await new Promise((r) => setTimeout(r, 10));
    }
    await query;
    return round(slowest, 1);
  } finally {
    await db.end();
  }
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const kb = Number(status.match(/VmRSS:\s+(\d+) kB/)?.[1] ?? 0);
  return round(kb / 1024, 0);
}

/** CPU time a process has used, in µs (utime + stime of /proc/<pid>/stat, in clock ticks of 1/100 s). */
async function cpuUs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) * 10_000;
}

async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const kb = Number(status.match(/VmHWM:\s+(\d+) kB/)?.[1] ?? 0);
  return round(kb / 1024, 0);
}

function wrk(
  url: string,
  bodies: string,
  concurrency: number,
  seconds: number,
  contentType = "application/json",
) {
  return new Promise<
    {
      requests: number;
      duration_us: number;
      non_2xx: number;
      socket_errors: number;
      p50_us: number;
      p95_us: number;
      p99_us: number;
    }
  >(
    (resolve, reject) => {
      execFile(
        "wrk",
        [
          "-t",
          String(Math.min(2, concurrency)),
          "-c",
          String(concurrency),
          "-d",
          `${seconds}s`,
          // wrk gives up on a request after 2 s by default and sends another on a new connection while the
          // server still works on the first: an NDJSON batch of 1,000 takes longer, and load piled up.
          "--timeout",
          "30s",
          "-s",
          join(ROOT, "bench/post.lua"),
          url,
        ],
        {
          env: { ...process.env, BENCH_BODIES: bodies, BENCH_CONTENT_TYPE: contentType },
          maxBuffer: 1 << 20,
        },
        (error, stdout, stderr) => {
          if (error) {
            return reject(new Error(`wrk failed (${stderr || error}); install it: apt-get install wrk`));
          }
          const line = stdout.split("\n").find((l) => l.startsWith("{"));
          if (!line) return reject(new Error(`wrk printed no result: ${stdout}`));
          resolve(JSON.parse(line));
        },
      );
    },
  );
}

/**
 * An open-loop load: POST `bodies` (in turn) at `rate` per second for `seconds`, each request due at its own
 * time whatever the answers before it did (wrk, closed-loop, would slow down with the server and hide a stall).
 * At most 512 in flight; a request that could not be sent on time is counted as late.
 */
async function pacedLoad(
  url: string,
  bodies: string[],
  rate: number,
  seconds: number,
): Promise<{ accepted: number; refused: number; late: number }> {
  const total = Math.round(rate * seconds);
  const started = performance.now();
  let sent = 0;
  let inFlight = 0;
  let accepted = 0;
  let refused = 0;
  let late = 0;
  const pending = new Set<Promise<void>>();
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
    while (sent < due && inFlight < 512) {
      if (due - sent > rate / 50) late++; // more than 20 ms behind its schedule
      const body = bodies[sent++ % bodies.length];
      inFlight++;
      const request: Promise<void> = fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      }).then(async (r) => {
        await r.body?.cancel();
        if (r.status === 202) accepted++;
        else refused++;
      }, () => void refused++).finally(() => {
        inFlight--;
        pending.delete(request);
      });
      pending.add(request);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  return { accepted, refused, late };
}

async function consumerLag(namespace: string) {
  const t = topologyOf(namespace);
  const info = await jsm.consumers.info(t.consumer.stream, t.consumer.durable_name!);
  return info.num_pending + info.num_ack_pending;
}

async function completedCount(): Promise<number> {
  const [{ ready }] = await sql`SELECT to_regclass('nomnom.messages') IS NOT NULL AS ready`;
  if (!ready) return 0; // the workers have not migrated yet
  const [{ n }] = await sql`SELECT count(*)::int AS n FROM nomnom.messages WHERE status = 'completed'`;
  return n;
}

/** Orders the tables hold before phase G's drain (plus as many × ~4 line items and status rows). */
const GROWN_ORDERS = quick ? 200_000 : 3_000_000;

async function tableCount(table: string): Promise<number> {
  const [{ n }] = await sql.unsafe(`SELECT count(*)::int AS n FROM ${table}`);
  return n;
}

/**
 * Double the rows of orders, order_line_items and nomnom.messages: each copy's keys, message id and root key get
 * `suffix`. The tables are the TPC-H fixture's: order_key is the orders' key and the line items' root.
 */
async function growTables(suffix: string) {
  const columnsOf = async (table: string) =>
    (await sql`SELECT column_name FROM information_schema.columns WHERE table_name = ${table}
      AND table_schema = current_schema() AND is_identity = 'NO' ORDER BY ordinal_position`)
      .map((r) => r.column_name as string);
  const renamed = new Set(["order_key", "_message_id", "_root_key"]);
  for (const table of ["orders", "order_line_items"]) {
    const cols = await columnsOf(table);
    const values = cols.map((c) => (renamed.has(c) ? `${c} || '${suffix}'` : c));
    await sql.unsafe(`INSERT INTO ${table} (${cols.join(", ")}) SELECT ${values.join(", ")} FROM ${table}`);
  }
  await sql.unsafe(
    `INSERT INTO nomnom.messages (message_id, entity, status, stream_seq, received_at, processed_at,
      attempts, history)
    SELECT message_id || '${suffix}', entity, status, stream_seq, now() - random() * interval '2 days',
      processed_at, attempts, history FROM nomnom.messages`,
  );
}

try {
  const orders = generateOrders(Math.max(BACKLOG, 20_000), 42);
  const payloads = orders.map((o) => JSON.stringify(o));
  const rowsOf = (os: Order[]) => os.reduce((n, o) => n + 1 + o.line_items.length, 0);
  const bodiesFile = join(work, "orders.txt");
  await writeFile(bodiesFile, payloads.slice(0, 20_000).join("\n") + "\n");
  const batchFile = async (size: number) => {
    const file = join(work, `batch-${size}.txt`);
    const lines: string[] = [];
    for (let i = 0; i + size <= 20_000 && lines.length < 200; i += size) {
      lines.push(payloads.slice(i, i + size).join("\x1e"));
    }
    await writeFile(file, lines.join("\n") + "\n");
    return file;
  };

  // ---------- A: raw JetStream ----------
  const baselineA = new Map<number, number>();
  if (runs("A")) {
    const t = await resetNamespace(`${id}a`);
    const bytes = payloads.map((p) => new TextEncoder().encode(p));
    for (const c of CONCURRENCY) {
      const latencies: number[] = [];
      let next = 0;
      const deadline = performance.now() + SECONDS * 1000;
      await Promise.all(Array.from({ length: c }, async () => {
        while (performance.now() < deadline) {
          const i = next++;
          const started = performance.now();
          await js.publish(t.ingestSubject("Order", uuidv7()), bytes[i % bytes.length], { msgID: uuidv7() });
          latencies.push(performance.now() - started);
        }
      }));
      latencies.sort((a, b) => a - b);
      const rate = latencies.length / SECONDS;
      baselineA.set(c, rate);
      rows.push({
        name: `A  JetStream publish, c=${c}`,
        msgs_per_s: round(rate, 0),
        p50_ms: round(percentile(latencies, 50), 2),
        p95_ms: round(percentile(latencies, 95), 2),
        p99_ms: round(percentile(latencies, 99), 2),
      });
      await jsm.streams.purge(t.ingest.name);
      log(`A c=${c}: ${round(rate, 0)} msgs/s`);
    }
    for (const s of t.streams) await jsm.streams.delete(s.name);
  }

  // ---------- B: raw PostgreSQL ----------
  let baselineB = 0;
  if (runs("B")) {
    await createBaselineTables(sql);
    const subset = orders.slice(0, Math.min(BACKLOG, 20_000));
    const started = performance.now();
    for (let i = 0; i < subset.length; i += 500) {
      const chunk = subset.slice(i, i + 500);
      await sql.begin((tx) => upsertBaseline(tx as never, chunk, chunk.map((_, k) => i + k)));
    }
    const seconds = (performance.now() - started) / 1000;
    baselineB = rowsOf(subset) / seconds;
    const [{ n }] = await sql`SELECT count(*)::int AS n FROM bench_orders`;
    rows.push({
      name: "B  PostgreSQL unnest upsert, 500 orders/tx",
      msgs_per_s: round(subset.length / seconds, 0),
      rows_per_s: round(baselineB, 0),
      lost: subset.length - n,
    });
    log(`B: ${round(baselineB, 0)} rows/s`);
    await dropBaselineTables(sql);
  }

  // ---------- M: the minimal service (Hono + nats.js by hand) under the same load as phase 3 ----------
  const baselineM = new Map<number, number>();
  if (runs("M")) {
    const ns = `${id}m`;
    const t = await resetNamespace(ns);
    const minimal = startScript("bench/minimal_service.ts", [NATS_URL, `${ns}.ingest`]);
    const url = await minimal.url();
    for (const c of CONCURRENCY) {
      const cpuBefore = await cpuUs(minimal.child.pid!);
      const r = await wrk(`${url}/ingest/message/Order`, bodiesFile, c, SECONDS);
      const cpu = (await cpuUs(minimal.child.pid!)) - cpuBefore;
      const ok = r.requests - r.non_2xx - r.socket_errors;
      const stored = (await jsm.streams.info(t.ingest.name)).state.messages;
      const rate = ok / (r.duration_us / 1e6);
      baselineM.set(c, rate);
      rows.push({
        name: `M  minimal service (Hono + nats.js), c=${c}`,
        msgs_per_s: round(rate, 0),
        p50_ms: round(r.p50_us / 1000, 2),
        p95_ms: round(r.p95_us / 1000, 2),
        p99_ms: round(r.p99_us / 1000, 2),
        ratios: ratiosOf(rate, [`A c=${c}`, baselineA.get(c)]),
        cpu_us_per_msg: ok ? round(cpu / ok, 0) : undefined,
        lost: Math.max(0, ok - stored),
      });
      await jsm.streams.purge(t.ingest.name);
      log(`M c=${c}: ${round(rate, 0)} msgs/s`);
    }
    rows.push({
      name: "   minimal service peak RSS",
      msgs_per_s: 0,
      rss_mb: await peakRssMb(minimal.child.pid!),
    });
    await stopNomnom(minimal.child);
    for (const s of t.streams) await jsm.streams.delete(s.name);
  }

  // ---------- 3 and 4: the API alone (no worker: the backlog just grows) ----------
  if (runs("3") || runs("4")) {
    const ns = `${id}api`;
    const t = await resetNamespace(ns);
    const api = startNomnom(["--role=api", "--port=0", ...flags(ns)]);
    const url = await api.url();
    const streamMessages = async () => (await jsm.streams.info(t.ingest.name)).state.messages;
    for (const c of runs("3") ? CONCURRENCY : []) {
      const cpuBefore = await cpuUs(api.child.pid!);
      const r = await wrk(`${url}/ingest/message/Order`, bodiesFile, c, SECONDS);
      const cpu = (await cpuUs(api.child.pid!)) - cpuBefore;
      const ok = r.requests - r.non_2xx - r.socket_errors;
      const stored = await streamMessages();
      const rate = ok / (r.duration_us / 1e6);
      rows.push({
        name: `3  API POST /ingest/message, c=${c}`,
        msgs_per_s: round(rate, 0),
        p50_ms: round(r.p50_us / 1000, 2),
        p95_ms: round(r.p95_us / 1000, 2),
        p99_ms: round(r.p99_us / 1000, 2),
        ratios: ratiosOf(rate, [`M c=${c}`, baselineM.get(c)], [`A c=${c}`, baselineA.get(c)]),
        cpu_us_per_msg: ok ? round(cpu / ok, 0) : undefined,
        lost: Math.max(0, ok - stored),
      });
      await jsm.streams.purge(t.ingest.name);
      log(`3 c=${c}: ${round(rate, 0)} msgs/s`);
    }
    for (const size of runs("4") ? [100, 1000] : []) {
      const file = await batchFile(size);
      const cpuBefore = await cpuUs(api.child.pid!);
      const r = await wrk(`${url}/ingest/batch/Order`, file, 16, SECONDS, "application/x-ndjson");
      const cpu = (await cpuUs(api.child.pid!)) - cpuBefore;
      const ok = r.requests - r.non_2xx - r.socket_errors;
      const stored = await streamMessages();
      const rate = stored / (r.duration_us / 1e6);
      rows.push({
        name: `4  API NDJSON batch of ${size}, c=16`,
        msgs_per_s: round(rate, 0),
        p50_ms: round(r.p50_us / 1000, 2),
        p95_ms: round(r.p95_us / 1000, 2),
        p99_ms: round(r.p99_us / 1000, 2),
        ratios: ratiosOf(rate, ["A c=64", baselineA.get(64)]),
        cpu_us_per_msg: stored ? round(cpu / stored, 0) : undefined,
        lost: Math.max(0, ok * size - stored),
      });
      await jsm.streams.purge(t.ingest.name);
      log(`4 batch ${size}: ${round(rate, 0)} msgs/s`);
    }
    rows.push({ name: "   API process peak RSS", msgs_per_s: 0, rss_mb: await peakRssMb(api.child.pid!) });
    await stopNomnom(api.child);
    for (const s of t.streams) await jsm.streams.delete(s.name);
  }

  // ---------- 5: workers draining a backlog ----------
  /** Publish `backlog` as nomnom's API would (ids, acceptance header), 256 in flight; returns the ids. */
  const publishBacklog = async (t: ReturnType<typeof topologyOf>, backlog: Order[]) => {
    const ids: string[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: 256 }, async () => {
      while (next < backlog.length) {
        const i = next++;
        const messageId = uuidv7();
        ids[i] = messageId;
        await js.publish(t.ingestSubject("Order", messageId), JSON.stringify(backlog[i]), {
          msgID: messageId,
          headers: createEnvelopeHeaders(new Date()),
        });
      }
    }));
    return ids;
  };
  /** Publish `backlog` to a fresh namespace, start `workers` workers, time how fast they complete it. */
  const drain = async (ns: string, backlog: Order[], workers: number, rt: string) => {
    const t = await resetNamespace(ns);
    const before = await completedCount();
    const ids = await publishBacklog(t, backlog);
    const procs = Array.from(
      { length: workers },
      () =>
        rt === "deno"
          ? startProcess(denoWorker, ["--role=worker", "--ops-port=0", ...flags(ns)])
          : startNomnom(["--role=worker", "--ops-port=0", ...flags(ns)], rt),
    );
    let firstAt = 0;
    let firstCount = 0;
    let firstCpu = 0;
    const workersCpu = async () =>
      (await Promise.all(procs.map((p) => cpuUs(p.child.pid!)))).reduce((a, b) => a + b);
    for (;;) {
      const done = (await completedCount()) - before;
      if (done > 0 && !firstAt) {
        [firstAt, firstCount, firstCpu] = [performance.now(), done, await workersCpu()];
      }
      if (done >= backlog.length) break;
      const exited = procs.find((p) => p.child.exitCode !== null);
      if (exited) throw new Error(`a worker exited: ${exited.err().slice(-1500)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - firstAt) / 1000;
    const rate = (backlog.length - firstCount) / seconds;
    // The workers' CPU from the first completed message on (their start excluded), per message drained.
    const cpuPerMsg = ((await workersCpu()) - firstCpu) / (backlog.length - firstCount);
    const [{ n }] = await sql`SELECT count(*)::int AS n FROM nomnom.messages WHERE status = 'completed'
      AND message_id = ANY(${ids})`;
    const rss = Math.max(...await Promise.all(procs.map((p) => peakRssMb(p.child.pid!))));
    for (const p of procs) await stopNomnom(p.child);
    for (const s of t.streams) await jsm.streams.delete(s.name);
    return {
      rate,
      rowRate: rate * (rowsOf(backlog) / backlog.length),
      rss,
      cpuPerMsg,
      lost: backlog.length - n,
    };
  };
  // ---------- C: the minimal consumer (pull, parse, baseline B's upsert, ack) on the same backlog ----------
  let baselineC: number | undefined;
  if (runs("C")) {
    const ns = `${id}c`;
    const t = await resetNamespace(ns);
    const backlog = orders.slice(0, BACKLOG);
    await publishBacklog(t, backlog);
    const consumer = startScript("bench/minimal_consumer.ts", [
      NATS_URL,
      t.consumer.stream,
      t.consumer.durable_name!,
      dbUrl,
      String(backlog.length),
      String(loadConfig(flags(ns), {}).worker.batchSize),
    ]);
    const exit = await new Promise<number | null>((resolve) => consumer.child.on("exit", resolve));
    if (exit !== 0) throw new Error(`the minimal consumer failed: ${consumer.err().slice(-1500)}`);
    const result = JSON.parse(consumer.out().trim().split("\n").at(-1)!) as {
      messages: number;
      seconds: number;
      cpu_us: number;
    };
    baselineC = result.messages / result.seconds;
    const [{ n }] = await sql`SELECT count(*)::int AS n FROM bench_orders`;
    rows.push({
      name: `C  minimal consumer (fetch, parse, unnest upsert, ack), ${backlog.length} orders`,
      msgs_per_s: round(baselineC, 0),
      rows_per_s: round(baselineC * (rowsOf(backlog) / backlog.length), 0),
      ratios: ratiosOf(baselineC * (rowsOf(backlog) / backlog.length), ["B", baselineB]),
      cpu_us_per_msg: round(result.cpu_us / result.messages, 0),
      lost: backlog.length - n,
    });
    log(`C: ${round(baselineC, 0)} msgs/s`);
    await dropBaselineTables(sql);
    for (const s of t.streams) await jsm.streams.delete(s.name);
  }

  const drains: [number, string][] = drainWorkers?.map((n) => [n, runtime]) ??
    [[1, runtime], [2, runtime], [4, runtime], [1, runtime === "deno" ? "bun" : "deno"]];
  for (const [workers, rt] of runs("5") ? drains : []) {
    await resetTables();
    const backlog = orders.slice(0, BACKLOG);
    const r = await drain(`${id}w${workers}${rt}`, backlog, workers, rt);
    rows.push({
      name: `5  drain ${backlog.length} orders, ${workers} worker${workers > 1 ? "s" : ""} (${rt})`,
      msgs_per_s: round(r.rate, 0),
      rows_per_s: round(r.rowRate, 0),
      ratios: workers === 1 && rt === runtime
        ? ratiosOf(r.rate, ["C", baselineC]).concat(ratiosOf(r.rowRate, ["B", baselineB]))
        : ratiosOf(r.rowRate, ["B", baselineB]),
      rss_mb: r.rss,
      cpu_us_per_msg: round(r.cpuPerMsg, 0),
      lost: r.lost,
    });
    log(`5 ${workers} worker(s) ${rt}: ${round(r.rate, 0)} msgs/s`);
  }

  // ---------- G: the same drain into tables that already hold millions of rows ----------
  if (runs("G")) {
    await resetTables();
    // The drain into empty tables, run again now (the same moment's machine), writes the rows that are grown.
    const empty = (await drain(`${id}g0`, orders.slice(0, BACKLOG), 1, runtime)).rate;
    // Grow what the empty drain wrote by doubling it in SQL (new keys, message ids and root keys; acceptance
    // times over the last two days, so that the status rows fill several day partitions), to GROWN_ORDERS.
    const started = performance.now();
    if ((await tableCount("orders")) === 0) throw new Error("phase G: the empty-table drain wrote no orders");
    for (let k = 0; (await tableCount("orders")) < GROWN_ORDERS; k++) {
      await growTables(`~${k}`);
    }
    await sql.unsafe(`VACUUM ANALYZE orders, order_line_items, nomnom.messages`);
    const sizes = {
      orders: await tableCount("orders"),
      line_items: await tableCount("order_line_items"),
      statuses: await tableCount("nomnom.messages"),
    };
    log(
      `G grew the tables to ${JSON.stringify(sizes)} in ${round((performance.now() - started) / 1000, 0)} s`,
    );
    const backlog = generateOrders(BACKLOG, 43, "G");
    const r = await drain(`${id}g1`, backlog, 1, runtime);
    rows.push({
      name:
        `G  drain ${backlog.length} orders into ${sizes.orders} orders, ${sizes.line_items} line items, ` +
        `${sizes.statuses} status rows (${runtime})`,
      msgs_per_s: round(r.rate, 0),
      rows_per_s: round(r.rowRate, 0),
      ratios: ratiosOf(r.rate, ["empty tables", empty]),
      rss_mb: r.rss,
      cpu_us_per_msg: round(r.cpuPerMsg, 0),
      lost: r.lost,
    });
    log(
      `G: ${round(r.rate, 0)} msgs/s (${round(r.rate / empty, 2)} of the empty-table drain, ${
        round(empty, 0)
      })`,
    );
  }

  // ---------- 6: --role=all end to end ----------
  if (runs("6")) {
    const ns = `${id}all`;
    const t = await resetNamespace(ns);
    await resetTables();
    const all = startNomnom(["--role=all", "--port=0", ...flags(ns)]);
    const url = await all.url();
    const r = await wrk(`${url}/ingest/message/Order`, bodiesFile, 64, E2E_SECONDS);
    const ok = r.requests - r.non_2xx - r.socket_errors;
    const drainedBy = performance.now() + 120_000;
    while ((await consumerLag(ns)) > 0 && performance.now() < drainedBy) {
      await new Promise((res) => setTimeout(res, 50));
    }
    const done = await completedCount();
    const [lat] = await sql`
      SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP
        (ORDER BY extract(epoch FROM processed_at - received_at) * 1000) AS p
      FROM nomnom.messages WHERE status = 'completed'`;
    const rate = ok / (r.duration_us / 1e6);
    rows.push({
      name: `6  --role=all, ${E2E_SECONDS}s at c=64: accept`,
      msgs_per_s: round(rate, 0),
      p50_ms: round(r.p50_us / 1000, 2),
      p95_ms: round(r.p95_us / 1000, 2),
      p99_ms: round(r.p99_us / 1000, 2),
      rss_mb: await peakRssMb(all.child.pid!),
      lost: Math.max(0, ok - done),
    });
    rows.push({
      name: "6  --role=all: accept → committed",
      msgs_per_s: round(rate, 0),
      p50_ms: round(lat.p[0], 1),
      p95_ms: round(lat.p[1], 1),
      p99_ms: round(lat.p[2], 1),
    });
    log(`6: ${round(rate, 0)} msgs/s`);

    // The question: at 70 % of that maximum, paced (an open loop, as real clients send), does the
    // worker keep up inside the same process, or does the API starve it? Only this interval's messages count.
    const pacedRate = Math.max(1, Math.round(rate * 0.7));
    const pacedFrom = new Date();
    const paced = await pacedLoad(`${url}/ingest/message/Order`, payloads, pacedRate, E2E_SECONDS);
    const pacedDrainedBy = performance.now() + 120_000;
    while ((await consumerLag(ns)) > 0 && performance.now() < pacedDrainedBy) {
      await new Promise((res) => setTimeout(res, 50));
    }
    const [pacedLat] = await sql`
      SELECT count(*)::int AS n, percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP
        (ORDER BY extract(epoch FROM processed_at - received_at) * 1000) AS p
      FROM nomnom.messages WHERE status = 'completed' AND received_at >= ${pacedFrom}`;
    rows.push({
      name: `6  --role=all at 70 % of that (${pacedRate}/s paced): accept → committed`,
      msgs_per_s: round(paced.accepted / E2E_SECONDS, 0),
      p50_ms: round(pacedLat.p?.[0] ?? 0, 1),
      p95_ms: round(pacedLat.p?.[1] ?? 0, 1),
      p99_ms: round(pacedLat.p?.[2] ?? 0, 1),
      lost: Math.max(0, paced.accepted - pacedLat.n),
      note: `${paced.refused} refused, ${paced.late} sent late (the generator fell behind its schedule)`,
    });
    log(`6 paced at ${pacedRate}/s: accept → committed p99 ${round(pacedLat.p?.[2] ?? 0, 1)} ms`);
    await stopNomnom(all.child);
    for (const s of t.streams) await jsm.streams.delete(s.name);
  }

  // ---------- R: start → /ready ----------
  if (runs("R")) {
    const ns = `${id}ready`;
    const t = await resetNamespace(ns);
    const starts: [string, string][] = ["api", "worker", "all"].map((role) => [role, runtime]);
    if (binary) starts.push(...["api", "worker", "all"].map((role) => [role, "binary"] as [string, string]));
    for (const [role, rt] of starts) {
      const times: number[] = [];
      let idle = 0;
      for (let i = 0; i < 3; i++) {
        const port = await freePort();
        const portFlag = role === "worker" ? `--ops-port=${port}` : `--port=${port}`;
        const started = performance.now();
        const p = startNomnom([`--role=${role}`, portFlag, ...flags(ns)], rt);
        for (;;) {
          const ok = await fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.ok, () => false);
          if (ok) break;
          if (p.child.exitCode !== null) throw new Error(`nomnom exited: ${p.err().slice(-500)}`);
          if (performance.now() - started > 30_000) throw new Error(`${role} was not ready within 30 s`);
          await new Promise((r) => setTimeout(r, 5));
        }
        times.push(performance.now() - started);
        await new Promise((r) => setTimeout(r, 500));
        idle = Math.max(idle, await rssMb(p.child.pid!));
        await stopNomnom(p.child);
      }
      times.sort((a, b) => a - b);
      rows.push({
        name: `R  start → /ready, --role=${role} (${rt === "binary" ? "bun binary" : rt})`,
        msgs_per_s: 0,
        p50_ms: round(times[1], 0),
        rss_mb: idle,
        note: "p50 of 3 starts; RSS when idle after start",
      });
      log(`R ${role} ${rt}: ${round(times[1], 0)} ms`);
    }
    for (const s of t.streams) await jsm.streams.delete(s.name);
  }

  // ---------- E: the embedded demo ----------
  if (runs("E")) {
    const runtimes: string[] = binary ? [runtime, "binary"] : [runtime];
    for (const rt of runtimes) {
      const label = rt === "binary" ? "bun binary" : rt;
      const first: number[] = [];
      const again: number[] = [];
      let healthMax = 0;
      for (let i = 0; i < 3; i++) {
        const dataDir = await mkdtemp(join(work, "demo-"));
        for (const times of [first, again]) {
          const port = await freePort();
          const started = performance.now();
          const p = startNomnom(
            ["--role=all", `--port=${port}`, `--ops-port=${await freePort()}`, `--data-dir=${dataDir}`],
            rt,
            { NATS_URL: "", DATABASE_URL: "", NOMNOM_SHUTDOWN_DRAIN_MS: "0" },
          );
          for (;;) {
            const ok = await fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.ok, () => false);
            if (ok) break;
            if (p.child.exitCode !== null) throw new Error(`the demo exited: ${p.err().slice(-500)}`);
            if (performance.now() - started > 60_000) throw new Error("the demo was not ready within 60 s");
            await new Promise((r) => setTimeout(r, 5));
          }
          times.push(performance.now() - started);
          if (times === again && i === 0) healthMax = await healthDuringSlowQuery(port, p.out);
          await stopNomnom(p.child);
        }
        await rm(dataDir, { recursive: true, force: true });
      }
      for (const [name, times] of [["first start (empty data dir)", first], ["restart", again]] as const) {
        times.sort((a, b) => a - b);
        rows.push({
          name: `E  embedded demo (${label}), ${name} → /ready`,
          msgs_per_s: 0,
          p50_ms: round(times[1], 0),
          note: "p50 of 3 starts",
        });
      }
      rows.push({
        name: `E  embedded demo (${label}), slowest /health during a 2 s query`,
        msgs_per_s: 0,
        p99_ms: round(healthMax, 1),
        note: "the slowest of /health asked every 10 ms while pg_sleep(2) ran in the embedded database",
      });
      log(
        `E ${label}: first ${round(first[1], 0)} ms, restart ${
          round(again[1], 0)
        } ms, /health ≤ ${healthMax} ms`,
      );
    }
  }

  // ---------- report ----------
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${round(totalmem() / 1024 ** 3, 0)} GiB`;
  const header = [
    "",
    "msgs/s",
    "rows/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "ratio",
    "CPU µs/msg",
    "RSS MB",
    "lost",
  ];
  const table = [
    header,
    ...rows.map((r) => [
      r.name,
      r.msgs_per_s ? String(r.msgs_per_s) : "",
      r.rows_per_s ? String(r.rows_per_s) : "",
      r.p50_ms?.toString() ?? "",
      r.p95_ms?.toString() ?? "",
      r.p99_ms?.toString() ?? "",
      (r.ratios ?? []).map((x) => `${x.value} of ${x.of}`).join("; "),
      r.cpu_us_per_msg?.toString() ?? "",
      r.rss_mb?.toString() ?? "",
      r.lost?.toString() ?? "",
    ]),
  ];
  const widths = header.map((_, i) => Math.max(...table.map((row) => row[i].length)));
  console.log(`nomnom bench (${quick ? "quick" : "full"}, nomnom on ${runtime}) on ${machine}`);
  for (const row of table) {
    console.log(row.map((cell, i) => i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])).join("  "));
  }
  await mkdir(join(ROOT, "bench/results"), { recursive: true });
  const file = join(
    ROOT,
    `bench/results/${new Date().toISOString().replace(/[:.]/g, "-")}-${
      quick ? "quick" : "full"
    }-${runtime}.json`,
  );
  await writeFile(
    file,
    JSON.stringify({ machine, quick, runtime, seconds: SECONDS, backlog: BACKLOG, rows }, null, 2) + "\n",
  );
  console.log(`written to ${file}`);
  const lost = rows.reduce((n, r) => n + Math.max(0, r.lost ?? 0), 0);
  if (lost > 0) {
    console.error(`LOST ${lost} message(s)`);
    process.exitCode = 1;
  }
} finally {
  for (const child of children) await stopNomnom(child).catch(() => {});
  await nc.close();
  await sql.end();
  await admin.unsafe(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  await admin.end();
  await rm(work, { recursive: true, force: true });
}
