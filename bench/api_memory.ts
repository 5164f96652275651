/**
 * `deno run -A bench/api_memory.ts [--runtime=deno|bun] [--phases=3,4] [--seconds=3] [--v8-flags=A,B]
 * [--preload=FILE] [--env=K=V;K=V]`: the API alone under the load of bench phases 3 (single POSTs at c=1/16/64)
 * and 4 (NDJSON batches of 100 and 1,000 at c=16), with its RSS sampled every 50 ms from /proc, to find which
 * load makes its peak and what the peak is made of. Per load it prints msgs/s (stored in the stream, as bench.ts
 * counts phase 4), the API's CPU µs a message, and its VmHWM before → after; the mappings of the process at
 * its largest sampled RSS go to `$TMPDIR/api-smaps-<runtime>.txt` (V8's heap pages, malloc's arena and mmapped
 * chunks, the binary). Deno flags and a preloaded module (bench/heap_sampler.ts) as for bench.ts's workers.
 */
import { execFile, spawn } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";
import { benchFlags, nomnomCommand } from "./nomnom_command.ts";
import { generateOrders } from "./orders.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const arg = (name: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=").slice(1).join("=");
const runtime = (arg("runtime") ?? "deno") as "deno" | "bun";
const phases = (arg("phases") ?? "3,4").split(",");
const seconds = Number(arg("seconds") ?? 3);
const v8Flags = arg("v8-flags");
const preload = arg("preload");
const extraEnv = Object.fromEntries(
  (arg("env") ?? "").split(";").filter(Boolean).map((
    kv,
  ) => [kv.split("=")[0], kv.split("=").slice(1).join("=")]),
);
const NATS_URL = process.env.NOMNOM_TEST_NATS_URL ?? "nats://127.0.0.1:4222";
const PG_URL = process.env.NOMNOM_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const work = tmpdir();

const id = `apimem${Date.now().toString(36)}`;
const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
await admin.unsafe(`CREATE DATABASE "${id}"`);
const dbUrl = Object.assign(new URL(PG_URL), { pathname: `/${id}` }).toString();
const nc = await connect({ servers: NATS_URL });
const jsm = await jetstreamManager(nc);

// The bench's bodies: the same seeded orders, one per line, or batches with "\n" escaped as \x1e (post.lua).
const payloads = generateOrders(20_000, 42).map((o) => JSON.stringify(o));
const bodyFile = (size: number) => join(work, `api-memory-${id}-${size}.txt`);
await writeFile(bodyFile(1), payloads.join("\n") + "\n");
for (const size of [100, 1000]) {
  const lines: string[] = [];
  for (let i = 0; i + size <= payloads.length && lines.length < 200; i += size) {
    lines.push(payloads.slice(i, i + size).join("\x1e"));
  }
  await writeFile(bodyFile(size), lines.join("\n") + "\n");
}

const command = await nomnomCommand(runtime);
const args = runtime === "deno"
  ? [
    ...command.args.slice(0, -1),
    ...v8Flags ? [`--v8-flags=${v8Flags}`] : [],
    ...preload ? [`--preload=${preload}`] : [],
    command.args.at(-1)!,
  ]
  : [command.args[0], ...preload ? [`--preload=${preload}`] : [], ...command.args.slice(1)];
const child = spawn(command.command, [
  ...args,
  "--role=api",
  "--port=0",
  ...benchFlags({
    namespace: id,
    entities: join(ROOT, "tests/fixtures/nomnom-tpch/entities"),
    natsUrl: NATS_URL,
    databaseUrl: dbUrl,
  }),
], { stdio: ["ignore", "pipe", "inherit"], env: { ...command.env, ...extraEnv } });
let banner = "";
child.stdout!.on("data", (c) => banner += c);
let url = "";
for (let i = 0; i < 600 && !url; i++) {
  url = banner.match(/API +(http:\S+)/)?.[1] ?? "";
  if (!url) await new Promise((r) => setTimeout(r, 50));
}
if (!url) throw new Error("the API did not print its banner");

const status = () => readFile(`/proc/${child.pid}/status`, "utf8");
const kbOf = (text: string, field: string) =>
  Number(text.match(new RegExp(`${field}:\\s+(\\d+) kB`))?.[1] ?? 0);
const cpuUs = async () => {
  const stat = await readFile(`/proc/${child.pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
};
let largest = 0;
let largestSmaps = "";
let sampled = 0;
const sampler = setInterval(async () => {
  const rss = kbOf(await status().catch(() => ""), "VmRSS");
  sampled = Math.max(sampled, rss);
  if (rss > largest) {
    largest = rss;
    largestSmaps = await readFile(`/proc/${child.pid}/smaps`, "utf8").catch(() => largestSmaps);
  }
}, 50);

const wrk = (bodies: string, concurrency: number, path: string, contentType: string) =>
  new Promise<{ requests: number; non_2xx: number; socket_errors: number; duration_us: number }>(
    (resolve, reject) =>
      execFile(
        "wrk",
        [
          ...["-t", String(Math.min(2, concurrency)), "-c", String(concurrency), "-d", `${seconds}s`],
          ...["--timeout", "30s", "-s", join(ROOT, "bench/post.lua"), url + path],
        ],
        { env: { ...process.env, BENCH_BODIES: bodies, BENCH_CONTENT_TYPE: contentType } },
        (error, out) => {
          if (error) return reject(error);
          resolve(JSON.parse(out.split("\n").find((l) => l.startsWith("{"))!));
        },
      ),
  );
const load = async (name: string, size: number, concurrency: number) => {
  const single = size === 1;
  const cpuBefore = await cpuUs();
  const hwmBefore = kbOf(await status(), "VmHWM");
  sampled = 0;
  const r = await wrk(
    bodyFile(size),
    concurrency,
    single ? "/ingest/message/Order" : "/ingest/batch/Order",
    single ? "application/json" : "application/x-ndjson",
  );
  const stored = (await jsm.streams.info(`${id}_ingest`)).state.messages;
  const cpu = (await cpuUs()) - cpuBefore;
  await jsm.streams.purge(`${id}_ingest`);
  const ok = single ? r.requests - r.non_2xx - r.socket_errors : stored;
  const mb = (kb: number) => Math.round(kb / 1024);
  console.log(
    `${name.padEnd(16)} ${String(Math.round(ok / (r.duration_us / 1e6))).padStart(6)} msgs/s  ` +
      `${String(ok ? Math.round(cpu / ok) : "").padStart(4)} µs CPU/msg  RSS up to ${mb(sampled)} MB  ` +
      `VmHWM ${mb(hwmBefore)} → ${mb(kbOf(await status(), "VmHWM"))} MB  non-2xx ${r.non_2xx}`,
  );
};

try {
  console.log(`the API on ${runtime}${v8Flags ? ` --v8-flags=${v8Flags}` : ""}, ${seconds} s a load`);
  if (phases.includes("3")) { for (const c of [1, 16, 64]) await load(`3 single c=${c}`, 1, c); }
  if (phases.includes("4")) { for (const size of [100, 1000]) await load(`4 batch ${size}`, size, 16); }
} finally {
  clearInterval(sampler);
  const smaps = join(work, `api-smaps-${runtime}.txt`);
  await writeFile(smaps, largestSmaps);
  console.log(`mappings at the largest RSS sampled (${Math.round(largest / 1024)} MB): ${smaps}`);
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
  for (const name of [`${id}_ingest`, `${id}_dlq`]) await jsm.streams.delete(name).catch(() => {});
  await nc.close();
  await admin.unsafe(`DROP DATABASE "${id}" WITH (FORCE)`);
  await admin.end();
  for (const size of [1, 100, 1000]) await rm(bodyFile(size), { force: true });
}
