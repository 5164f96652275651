/**
 * `deno task bench [--quick] [--runtime=deno|bun]`: nomnom measured side by side with the physical limits, in
 * one run, on this machine, against the live NATS and PostgreSQL (isolated namespace and database).
 *
 *   A  raw JetStream: acked publishes of the same payloads from one client, concurrency 1/16/64
 *   B  raw PostgreSQL: the same rows upserted with plain multi-row unnest statements, no nomnom code
 *   3  nomnom API, one message per POST, concurrency 1/16/64 (load from wrk, a separate process)
 *   4  nomnom API, NDJSON batches of 100 and 1,000 lines
 *   5  nomnom workers draining a pre-filled backlog (1, 2, 4 worker processes; 1 worker on the other runtime)
 *   6  --role=all end to end under sustained load: throughput, accept and accept→commit latency, peak RSS
 *   R  start → /ready of each role against the live services (median of 3 starts), and its RSS when idle;
 *      with --binary=./nomnom also the compiled binary's
 *
 * Prints one table with the ratios 3÷A, 4÷A, 5÷B and writes the same as JSON under bench/results/. Every phase
 * checks that nothing was lost (by id where the bench made the ids, by count where wrk did: wrk does not count
 * requests still in flight when it stops, so the stream may hold a few more than it reports, never fewer).
 * `--only=A,B,3,4,5,6,R` runs some phases (ratios need their baseline in the same run).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
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
import { nomnomCommand, type NomnomRuntime } from "./nomnom_command.ts";
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
const BACKLOG = quick ? 5_000 : 50_000;
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
  ratio?: { of: string; value: number };
  rss_mb?: number;
  lost?: number;
  note?: string;
};
const rows: Row[] = [];
const commands = {
  deno: await nomnomCommand("deno"),
  bun: await nomnomCommand("bun"),
  binary: binary ? await nomnomCommand("binary", binary) : undefined,
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

const flags = (namespace: string) => [
  `--namespace=${namespace}`,
  `--entities=${ENTITIES}`,
  `--nats-url=${NATS_URL}`,
  `--database-url=${dbUrl}`,
  "--host=127.0.0.1",
  "--log-level=warn",
  `--stream-max-bytes=${4 * 1024 ** 3}`,
  `--dlq-max-bytes=${64 * 1024 ** 2}`,
];
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

function startNomnom(
  args: string[],
  rt = runtime,
): { child: ChildProcess; url: () => Promise<string>; err: () => string } {
  // Bun runs with the JSC settings the image sets (ENV BUN_JSC_* in the Dockerfile), so that the figures are
  // the image's.
  const { command, args: pre, env } = commands[rt as NomnomRuntime]!;
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
      if (child.exitCode !== null) throw new Error(`nomnom exited: ${err.slice(-500)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("nomnom did not print its banner");
  };
  return { child, url, err: () => err };
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

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const kb = Number(status.match(/VmRSS:\s+(\d+) kB/)?.[1] ?? 0);
  return round(kb / 1024, 0);
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
    await sql.unsafe(`CREATE TABLE bench_orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      order_key text NOT NULL UNIQUE, customer_key text NOT NULL, order_status text NOT NULL,
      total_price double precision NOT NULL, order_date text NOT NULL, order_priority text, clerk text,
      ship_priority integer, comment text, seq bigint NOT NULL)`);
    await sql.unsafe(`CREATE TABLE bench_items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      order_key text NOT NULL, line_number integer NOT NULL, part_key text NOT NULL, supplier_key text,
      quantity integer NOT NULL, extended_price double precision NOT NULL, discount double precision,
      tax double precision, return_flag text, line_status text, ship_date text, commit_date text,
      receipt_date text, seq bigint NOT NULL, UNIQUE (order_key, line_number))`);
    const subset = orders.slice(0, Math.min(BACKLOG, 20_000));
    const started = performance.now();
    for (let i = 0; i < subset.length; i += 500) {
      const chunk = subset.slice(i, i + 500);
      const items = chunk.flatMap((o, k) =>
        o.line_items.map((li) => ({ ...li, order_key: o.order_key, seq: i + k }))
      );
      const col = <T>(list: T[], key: string) =>
        list.map((r) => (r as Record<string, unknown>)[key] as never);
      await sql.begin(async (tx) => {
        await tx`INSERT INTO bench_orders (order_key, customer_key, order_status, total_price, order_date,
            order_priority, clerk, ship_priority, comment, seq)
          SELECT * FROM unnest(${col(chunk, "order_key")}::text[], ${col(chunk, "customer_key")}::text[],
            ${col(chunk, "order_status")}::text[], ${col(chunk, "total_price")}::float8[],
            ${col(chunk, "order_date")}::text[], ${col(chunk, "order_priority")}::text[], ${
          col(chunk, "clerk")
        }::text[],
            ${col(chunk, "ship_priority")}::int[], ${col(chunk, "comment")}::text[], ${
          chunk.map((_, k) => i + k)
        }::int8[])
          ON CONFLICT (order_key) DO UPDATE SET total_price = EXCLUDED.total_price, seq = EXCLUDED.seq
          WHERE bench_orders.seq < EXCLUDED.seq`;
        await tx`INSERT INTO bench_items (order_key, line_number, part_key, supplier_key, quantity, extended_price,
            discount, tax, return_flag, line_status, ship_date, commit_date, receipt_date, seq)
          SELECT * FROM unnest(${col(items, "order_key")}::text[], ${col(items, "line_number")}::int[],
            ${col(items, "part_key")}::text[], ${col(items, "supplier_key")}::text[], ${
          col(items, "quantity")
        }::int[],
            ${col(items, "extended_price")}::float8[], ${col(items, "discount")}::float8[], ${
          col(items, "tax")
        }::float8[],
            ${col(items, "return_flag")}::text[], ${col(items, "line_status")}::text[], ${
          col(items, "ship_date")
        }::text[],
            ${col(items, "commit_date")}::text[], ${col(items, "receipt_date")}::text[], ${
          col(items, "seq")
        }::int8[])
          ON CONFLICT (order_key, line_number) DO UPDATE SET quantity = EXCLUDED.quantity, seq = EXCLUDED.seq
          WHERE bench_items.seq < EXCLUDED.seq`;
      });
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
    await sql.unsafe("DROP TABLE bench_orders, bench_items");
  }

  // ---------- 3 and 4: the API alone (no worker: the backlog just grows) ----------
  if (runs("3") || runs("4")) {
    const ns = `${id}api`;
    const t = await resetNamespace(ns);
    const api = startNomnom(["--role=api", "--port=0", ...flags(ns)]);
    const url = await api.url();
    const streamMessages = async () => (await jsm.streams.info(t.ingest.name)).state.messages;
    for (const c of runs("3") ? CONCURRENCY : []) {
      const r = await wrk(`${url}/ingest/message/Order`, bodiesFile, c, SECONDS);
      const ok = r.requests - r.non_2xx - r.socket_errors;
      const stored = await streamMessages();
      const rate = ok / (r.duration_us / 1e6);
      rows.push({
        name: `3  API POST /ingest/message, c=${c}`,
        msgs_per_s: round(rate, 0),
        p50_ms: round(r.p50_us / 1000, 2),
        p95_ms: round(r.p95_us / 1000, 2),
        p99_ms: round(r.p99_us / 1000, 2),
        ratio: ratio(`A c=${c}`, rate, baselineA.get(c)),
        lost: Math.max(0, ok - stored),
      });
      await jsm.streams.purge(t.ingest.name);
      log(`3 c=${c}: ${round(rate, 0)} msgs/s`);
    }
    for (const size of runs("4") ? [100, 1000] : []) {
      const file = await batchFile(size);
      const r = await wrk(`${url}/ingest/batch/Order`, file, 16, SECONDS, "application/x-ndjson");
      const ok = r.requests - r.non_2xx - r.socket_errors;
      const stored = await streamMessages();
      const rate = stored / (r.duration_us / 1e6);
      rows.push({
        name: `4  API NDJSON batch of ${size}, c=16`,
        msgs_per_s: round(rate, 0),
        p50_ms: round(r.p50_us / 1000, 2),
        p95_ms: round(r.p95_us / 1000, 2),
        p99_ms: round(r.p99_us / 1000, 2),
        ratio: ratio("A c=64", rate, baselineA.get(64)),
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
  const drains: [number, string][] = [[1, runtime], [2, runtime], [4, runtime], [
    1,
    runtime === "deno" ? "bun" : "deno",
  ]];
  for (const [workers, rt] of runs("5") ? drains : []) {
    const ns = `${id}w${workers}${rt}`;
    const t = await resetNamespace(ns);
    await resetTables();
    const backlog = orders.slice(0, BACKLOG);
    const ids: string[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: 256 }, async () => {
      while (next < backlog.length) {
        const i = next++;
        const messageId = uuidv7();
        ids[i] = messageId;
        await js.publish(t.ingestSubject("Order", messageId), payloads[i], {
          msgID: messageId,
          headers: createEnvelopeHeaders(new Date()),
        });
      }
    }));
    const procs = Array.from(
      { length: workers },
      () => startNomnom(["--role=worker", "--ops-port=0", ...flags(ns)], rt),
    );
    let firstAt = 0;
    let firstCount = 0;
    for (;;) {
      const done = await completedCount();
      if (done > 0 && !firstAt) [firstAt, firstCount] = [performance.now(), done];
      if (done >= backlog.length) break;
      const exited = procs.find((p) => p.child.exitCode !== null);
      if (exited) throw new Error(`a worker exited: ${exited.err().slice(-1500)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - firstAt) / 1000;
    const rate = (backlog.length - firstCount) / seconds;
    const rowRate = rate * (rowsOf(backlog) / backlog.length);
    const [{ n }] = await sql`SELECT count(*)::int AS n FROM nomnom.messages WHERE status = 'completed'
      AND message_id = ANY(${ids})`;
    rows.push({
      name: `5  drain ${backlog.length} orders, ${workers} worker${workers > 1 ? "s" : ""} (${rt})`,
      msgs_per_s: round(rate, 0),
      rows_per_s: round(rowRate, 0),
      ratio: ratio("B", rowRate, baselineB),
      rss_mb: Math.max(...await Promise.all(procs.map((p) => peakRssMb(p.child.pid!)))),
      lost: backlog.length - n,
    });
    log(`5 ${workers} worker(s) ${rt}: ${round(rate, 0)} msgs/s`);
    for (const p of procs) await stopNomnom(p.child);
    for (const s of t.streams) await jsm.streams.delete(s.name);
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

  // ---------- report ----------
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${round(totalmem() / 1024 ** 3, 0)} GiB`;
  const header = ["", "msgs/s", "rows/s", "p50 ms", "p95 ms", "p99 ms", "ratio", "RSS MB", "lost"];
  const table = [
    header,
    ...rows.map((r) => [
      r.name,
      r.msgs_per_s ? String(r.msgs_per_s) : "",
      r.rows_per_s ? String(r.rows_per_s) : "",
      r.p50_ms?.toString() ?? "",
      r.p95_ms?.toString() ?? "",
      r.p99_ms?.toString() ?? "",
      r.ratio ? `${r.ratio.value} of ${r.ratio.of}` : "",
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
