/**
 * Where the time of one worker batch goes, statement by statement, without NATS: decode seeded orders as the
 * worker does, then call writeBatch() on batches of `--batch` orders in a throw-away database, timing each
 * statement it sends (client side: the round trip included) and the whole transaction. `--grow=N` first fills
 * the tables with N orders' worth of rows (as phase G does), to see how the cost grows.
 *
 *   deno run -A bench/batch_profile.ts [--batches=20] [--batch=500] [--grow=0] [--explain] [--baseline] [--keep]
 *     [--alternate-set=wal_compression=lz4]
 *
 * `--alternate-set=NAME=VALUE` runs every other batch with that session setting (a superuser's SET on this one
 * connection, never the server's configuration) and reports the two halves apart: an operator setting measured
 * on the same tables in the same minutes.
 */
import process from "node:process";
import postgres from "postgres";
import { v7 as uuidv7 } from "uuid";
import { silentLogger } from "../src/log.ts";
import { migrate } from "../src/db/migrate.ts";
import { maintainStatusPartitions } from "../src/db/status_retention.ts";
import { type BatchItem, createWritePlan, writeBatch } from "../src/db/write_batch.ts";
import type { Sql } from "../src/db/connect.ts";
import { decodeMessage } from "../src/registry/derive.ts";
import { loadRegistry } from "../src/registry/load.ts";
import { createBaselineTables, upsertBaseline } from "./baseline_sql.ts";
import { generateOrders } from "./orders.ts";

const arg = (name: string, fallback: number) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback);
const BATCHES = arg("batches", 20), BATCH = arg("batch", 500), GROW = arg("grow", 0);
const alternate = process.argv.find((a) => a.startsWith("--alternate-set="))?.split("=").slice(1);
const PG_URL = process.env.NOMNOM_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const ROOT = new URL("../", import.meta.url).pathname;

const database = `nomnom_profile_${Date.now().toString(36)}`;
const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
await admin.unsafe(`CREATE DATABASE "${database}"`);
const sql = postgres(Object.assign(new URL(PG_URL), { pathname: `/${database}` }).toString(), {
  max: 1, // one backend, whose CPU time /proc shows (PostgreSQL on this machine)
  onnotice: () => {},
  connection: { TimeZone: "UTC" },
});
/** Milliseconds per statement label, summed over the batches. */
const spent = new Map<string, number[]>();
const label = (text: string) =>
  text.replace(/\s+/g, " ").replace(/^(\w+( INTO| FROM)? \S+).*/, "$1").slice(0, 60);
let explaining = false;
let backendPid = 0;
/** CPU ms the PostgreSQL backend has used (10 ms ticks; 0 when PostgreSQL runs elsewhere). */
const backendCpu = () => {
  try {
    const f = Deno.readTextFileSync(`/proc/${backendPid}/stat`).split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
};
/** Server CPU ms per statement label, summed over the batches. */
const serverCpu = new Map<string, number>();
const time = (text: string, q: Promise<unknown>) => {
  const started = performance.now();
  const cpu = backendCpu();
  return q.then((r) => {
    const list = spent.get(label(text)) ?? [];
    list.push(performance.now() - started);
    spent.set(label(text), list);
    serverCpu.set(label(text), (serverCpu.get(label(text)) ?? 0) + backendCpu() - cpu);
    return r;
  });
};
/** `sql` whose transactions time every statement they run. */
const timed = new Proxy(sql, {
  get(target, prop) {
    if (prop !== "begin") return Reflect.get(target, prop);
    return (fn: (tx: Sql) => Promise<unknown>) =>
      target.begin((tx) =>
        fn(
          new Proxy(tx, {
            get(t, p) {
              if (p !== "unsafe") return Reflect.get(t, p);
              const unsafe = t.unsafe as (...a: unknown[]) => Promise<Record<string, string>[]>;
              return async (text: string, ...rest: unknown[]) => {
                if (explaining) {
                  // The plan of the same statement on the same rows, undone, then the statement itself.
                  await unsafe("SAVEPOINT explain");
                  const plan = await unsafe(`EXPLAIN (ANALYZE, BUFFERS, WAL) ${text}`, ...rest);
                  await unsafe("ROLLBACK TO SAVEPOINT explain");
                  console.log(`${label(text)}\n${plan.map((r) => r["QUERY PLAN"]).join("\n")}\n`);
                }
                return await time(text, unsafe(text, ...rest));
              };
            },
            // Tagged templates (baseline B's statements).
            apply(t, _this, args) {
              return time(args[0].join("$"), (t as (...a: unknown[]) => Promise<unknown>)(...args));
            },
          }) as unknown as Sql,
        )
      );
  },
}) as Sql;

try {
  [{ pid: backendPid }] = await sql`SELECT pg_backend_pid() AS pid`;
  const registry = await loadRegistry(`${ROOT}tests/fixtures/nomnom-tpch/entities`);
  await migrate(sql, registry, silentLogger);
  const plan = createWritePlan(registry);
  const order = registry.entities.get("Order")!;
  const orders = generateOrders(BATCHES * BATCH, 7, `P${Date.now().toString(36)}`);
  const receivedAt = new Date();
  const items: BatchItem[] = orders.map((o, i) => ({
    messageId: uuidv7(), // as the API issues them: time-ordered
    seq: i + 1,
    attempts: 1,
    receivedAt,
    decoded: decodeMessage(registry, order, JSON.parse(JSON.stringify(o))),
  }));
  if (GROW > 0) {
    // As phase G of bench.ts grows its tables: a seed written by writeBatch(), then doubled in SQL with new keys,
    // message ids and root keys, acceptance times over the last two days (several status partitions).
    const started = performance.now();
    const seed = generateOrders(5_000, 11, "seed").map((o, i) => ({
      messageId: uuidv7(),
      seq: i + 1,
      attempts: 1,
      receivedAt,
      decoded: decodeMessage(registry, order, o),
    }));
    for (let i = 0; i < seed.length; i += 1000) await writeBatch(sql, plan, seed.slice(i, i + 1000));
    await maintainStatusPartitions(sql, { retentionDays: 3 });
    const columnsOf = async (table: string) =>
      (await sql`SELECT column_name FROM information_schema.columns WHERE table_name = ${table}
        AND table_schema = current_schema() AND is_identity = 'NO' ORDER BY ordinal_position`)
        .map((r) => r.column_name as string);
    const renamed = new Set(["order_key", "_message_id", "_root_key"]);
    for (let k = 0; (await sql`SELECT count(*)::int AS n FROM orders`)[0].n < GROW; k++) {
      for (const table of ["orders", "order_line_items"]) {
        const cols = await columnsOf(table);
        const values = cols.map((c) => (renamed.has(c) ? `${c} || '~${k}'` : c));
        await sql.unsafe(
          `INSERT INTO ${table} (${cols.join(", ")}) SELECT ${values.join(", ")} FROM ${table}`,
        );
      }
      await sql.unsafe(`INSERT INTO nomnom.messages (message_id, entity, status, stream_seq, received_at,
        processed_at, attempts, history) SELECT message_id || '~${k}', entity, status, stream_seq,
        now() - random() * interval '2 days', processed_at, attempts, history FROM nomnom.messages`);
    }
    await sql.unsafe("VACUUM ANALYZE orders, order_line_items, nomnom.messages");
    const [{ n }] = await sql`SELECT count(*)::int AS n FROM orders`;
    console.error(`grew to ${n} orders in ${Math.round((performance.now() - started) / 1000)} s`);
  }
  const totals: number[] = [];
  const clientCpu: number[] = [];
  const transactionServerCpu: number[] = [];
  const baseline: number[] = [];
  const baselineServerCpu: number[] = [];
  /** Per batch: the WAL PostgreSQL wrote meanwhile (the whole server's: others' writes count too). */
  const walBytes: number[] = [];
  const walLsn = async () => Number((await sql`SELECT pg_current_wal_lsn() - '0/0' AS b`)[0].b);
  for (let b = 0; b < BATCHES; b++) {
    if (alternate) {
      const [name, value] = [alternate[0], alternate.slice(1).join("=")];
      await sql.unsafe(b % 2 ? `SET ${name} = '${value}'` : `SET ${name} TO DEFAULT`);
    }
    const lsn = await walLsn();
    const started = performance.now();
    const cpu = process.cpuUsage();
    const server = backendCpu();
    await writeBatch(timed, plan, items.slice(b * BATCH, (b + 1) * BATCH));
    totals.push(performance.now() - started);
    const used = process.cpuUsage(cpu);
    clientCpu.push((used.user + used.system) / 1000);
    transactionServerCpu.push(backendCpu() - server);
    walBytes.push((await walLsn()) - lsn);
  }
  if (process.argv.includes("--explain")) {
    explaining = true;
    await writeBatch(timed, plan, items.slice(0, BATCH).map((it) => ({ ...it, seq: it.seq + 10_000_000 })));
    explaining = false;
  }
  if (process.argv.includes("--baseline")) {
    // Baseline B's two statements on the same orders, in the same database, for comparison.
    await createBaselineTables(sql);
    for (let b = 0; b < BATCHES; b++) {
      const chunk = orders.slice(b * BATCH, (b + 1) * BATCH);
      const started = performance.now();
      const server = backendCpu();
      await timed.begin((tx) => upsertBaseline(tx as never, chunk, chunk.map((_, k) => b * BATCH + k)));
      baseline.push(performance.now() - started);
      baselineServerCpu.push(backendCpu() - server);
    }
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const skip = Math.min(2, BATCHES - 1); // the first batches prepare the statements
  const report = [...spent.entries()].map(([name, ms]) => ({
    statement: name,
    per_batch: ms.length / BATCHES,
    median_ms: Math.round(median(ms.slice(skip)) * 100) / 100,
    // Pipelined statements overlap: each one's window holds the CPU of those sent with it.
    server_cpu_ms: Math.round((serverCpu.get(name) ?? 0) / ms.length * 10) / 10,
  }));
  console.table(report);
  console.log(
    `transaction (BEGIN … COMMIT, writeBatch): median ${
      Math.round(median(totals.slice(skip)) * 100) / 100
    } ms per ${BATCH} orders, ${Math.round(BATCH / (median(totals.slice(skip)) / 1000))} orders/s; ` +
      `client CPU ${Math.round(median(clientCpu.slice(skip)) * 10) / 10} ms a batch; PostgreSQL CPU ${
        Math.round(mean(transactionServerCpu.slice(skip)) * 10) / 10
      } ms a batch (mean: /proc counts 10 ms ticks)`,
  );
  if (alternate) {
    for (const half of [0, 1]) {
      const pick = <T>(xs: T[]) => xs.filter((_, b) => b >= skip && b % 2 === half);
      console.log(
        `${half ? alternate.join("=") : `${alternate[0]} default`}: median ${
          Math.round(median(pick(totals)) * 100) / 100
        } ms a batch, PostgreSQL CPU ${
          Math.round(mean(pick(transactionServerCpu)) * 10) / 10
        } ms (mean), WAL ${Math.round(median(pick(walBytes)) / 1024)} KiB (median, server-wide)`,
      );
    }
  }
  if (baseline.length) {
    console.log(
      `baseline B transaction: median ${Math.round(median(baseline.slice(skip)) * 100) / 100} ms; ` +
        `PostgreSQL CPU ${Math.round(mean(baselineServerCpu.slice(skip)) * 10) / 10} ms a batch (mean)`,
    );
  }
} finally {
  await sql.end();
  if (process.argv.includes("--keep")) console.error(`kept database ${database}`);
  else await admin.unsafe(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  await admin.end();
}
