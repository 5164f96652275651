/**
 * What nomnom's API costs per request beyond baseline M's handler, without the HTTP listener: both Hono apps are
 * driven in process through `app.fetch()` with the bench's orders, 16 requests in flight, and each round is
 * charged the process's CPU time (user + system, from `process.cpuUsage()`), which another process on a busy
 * machine does not inflate the way it inflates wall-clock rates. Rounds alternate between the apps.
 *
 *   deno run -A bench/api_cost.ts [--nats] [--batch=100] [--rounds=5] [--requests=20000] [--only=nomnom|M]
 *
 * Without --nats both publish to a publisher that answers at once (the app's own work only); with --nats both
 * publish to the live JetStream (nats://127.0.0.1:4222, a stream of their own), nomnom through its publisher.
 * With `--cpu-prof` (a Deno flag, before the script) the profile is of the request path alone.
 */
import process from "node:process";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Hono } from "hono";
import { v7 as uuidv7 } from "uuid";
import { createApi } from "../src/api/app.ts";
import { loadConfig } from "../src/config.ts";
import type { DeadLetters } from "../src/lifecycle/dead_letters.ts";
import { silentLogger } from "../src/log.ts";
import { createMetrics } from "../src/observability/metrics.ts";
import { loadRegistry } from "../src/registry/load.ts";
import { ensureTopology } from "../src/stream/ensure.ts";
import { createPublisher, type Publisher } from "../src/stream/publish.ts";
import { createTopology } from "../src/stream/topology.ts";
import { generateOrders } from "./orders.ts";

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const NATS = process.argv.includes("--nats");
const BATCH = Number(arg("batch") ?? 0);
const ROUNDS = Number(arg("rounds") ?? 5);
const REQUESTS = Number(arg("requests") ?? (BATCH ? Math.ceil(20_000 / BATCH) : 20_000));
const IN_FLIGHT = 16;
const ONLY = arg("only");

const ENTITIES = new URL("../tests/fixtures/nomnom-tpch/entities", import.meta.url).pathname;
const registry = await loadRegistry(ENTITIES);
const orders = generateOrders(20_000, 42).map((o) => JSON.stringify(o));
const bodies = BATCH
  ? Array.from(
    { length: Math.floor(orders.length / BATCH) },
    (_, i) => orders.slice(i * BATCH, (i + 1) * BATCH).join("\n"),
  )
  : orders;

const namespace = `cost${Date.now().toString(36)}`;
const config = loadConfig([`--namespace=${namespace}`, `--entities=${ENTITIES}`], {});
const topology = createTopology(config, registry);
const nc = NATS ? await connect({ servers: "nats://127.0.0.1:4222", noAsyncTraces: true }) : undefined;
const jsm = nc && await jetstreamManager(nc);
if (jsm) await ensureTopology(jsm, topology, silentLogger);
const js = nc && jetstream(nc);

const answered = () => Promise.resolve({ seq: 1, duplicate: false });
const publisher: Publisher = js
  ? createPublisher(js, topology, { timeoutMs: 5000, maxPayload: nc!.info!.max_payload })
  : { publish: answered };

const metrics = createMetrics("api", "bench");
const nomnom = createApi({
  registry,
  publisher,
  statuses: { find: () => Promise.resolve(new Map()), bodySha256: () => Promise.resolve(undefined) },
  deadLetters: {} as DeadLetters,
  ops: { readiness: () => Promise.resolve([]), metrics, stats: () => Promise.resolve({}) },
  metrics,
  log: silentLogger,
  version: "bench",
  limits: { messageBytes: config.limits.messageBytes, batchBytes: config.limits.batchBytes },
});

// Baseline M's handler (bench/minimal_service.ts), publishing to the same stream.
const minimal = new Hono();
const prefix = `${namespace}.ingest`;
minimal.post("/ingest/message/:entity", async (c) => {
  const body = await c.req.text();
  JSON.parse(body);
  const id = uuidv7();
  if (js) await js.publish(`${prefix}.${c.req.param("entity")}.${id}`, body, { msgID: id });
  else await answered();
  return c.json({ message_id: id }, 202);
});
// M for batches: what baseline A does with the lines at the same depth, behind the same parse and 202.
minimal.post("/ingest/batch/:entity", async (c) => {
  const lines = (await c.req.text()).split("\n");
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(256, lines.length) }, async () => {
    while (next < lines.length) {
      const line = lines[next++];
      JSON.parse(line);
      const id = uuidv7();
      if (js) await js.publish(`${prefix}.${c.req.param("entity")}.${id}`, line, { msgID: id });
      else await answered();
    }
  }));
  return c.json({ accepted: lines.length }, 202);
});

const apps: Record<string, Hono> = { nomnom, M: minimal };
const path = BATCH ? "/ingest/batch/Order" : "/ingest/message/Order";
const type = BATCH ? "application/x-ndjson" : "application/json";

const encoder = new TextEncoder();
/** CPU µs per message over `REQUESTS` requests, IN_FLIGHT at a time. */
async function round(app: Hono): Promise<number> {
  let next = 0;
  const cpu = process.cpuUsage();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < REQUESTS) {
      const body = bodies[next++ % bodies.length];
      const res = await app.fetch(
        // With its Content-Length, as wrk sends it (without one, Hono's bodyLimit wraps the body in a stream).
        new Request(`http://bench${path}`, {
          method: "POST",
          headers: { "Content-Type": type, "Content-Length": String(encoder.encode(body).length) },
          body,
        }),
      );
      if (res.status !== 202) throw new Error(`${res.status}: ${await res.text()}`);
      await res.arrayBuffer();
    }
  }));
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / (REQUESTS * (BATCH || 1));
}

const results: Record<string, number[]> = Object.fromEntries(Object.keys(apps).map((k) => [k, []]));
const names = ONLY ? [ONLY] : Object.keys(apps);
for (const name of names) await round(apps[name]); // warm up (JIT)
for (let r = 0; r < ROUNDS; r++) {
  for (const name of r % 2 ? [...names].reverse() : names) {
    results[name].push(await round(apps[name]));
    if (jsm) await jsm.streams.purge(topology.ingest.name);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const name of names) {
  console.log(
    `${name.padEnd(24)} ${
      median(results[name]).toFixed(1).padStart(6)
    } µs CPU per message (median of ${ROUNDS}: ` +
      `${results[name].map((x) => x.toFixed(1)).join(" ")})`,
  );
}
if (names.length >= 2) {
  console.log(`nomnom − M: ${(median(results.nomnom) - median(results.M)).toFixed(1)} µs per message`);
}
if (jsm) { for (const s of topology.streams) await jsm.streams.delete(s.name).catch(() => {}); }
await nc?.close();
