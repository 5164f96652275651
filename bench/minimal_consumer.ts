/**
 * Baseline C of `deno task bench`: the worker a user could write by hand. Fetch a batch from the durable pull
 * consumer, JSON.parse each message, upsert the rows with baseline B's plain `unnest` statements in one
 * transaction, ack. No validation, status rows, retries or dead letters. Prints one JSON line when `count`
 * messages are done: `{"messages": n, "seconds": s, "cpu_us": t}`, timed (wall and process CPU) from the first
 * message fetched.
 *
 *   <deno run -A | bun run> bench/minimal_consumer.ts <nats-url> <stream> <consumer> <postgres-url> <count> <batch>
 */
import process from "node:process";
import { jetstream, type JsMsg } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";
import { createBaselineTables, upsertBaseline } from "./baseline_sql.ts";
import type { Order } from "./orders.ts";

const [natsUrl, stream, durable, pgUrl, countText, batchText] = process.argv.slice(2);
const count = Number(countText), batch = Number(batchText);
const nc = await connect({ servers: natsUrl, noAsyncTraces: true });
const sql = postgres(pgUrl, { max: 1, onnotice: () => {} });
await createBaselineTables(sql);
const consumer = await jetstream(nc).consumers.get(stream, durable);
let done = 0;
let started = 0;
let cpuAtStart: ReturnType<typeof process.cpuUsage> | undefined;
while (done < count) {
  const msgs: JsMsg[] = [];
  for await (const m of await consumer.fetch({ max_messages: batch, expires: 1_000 })) msgs.push(m);
  if (msgs.length === 0) continue;
  started ||= performance.now();
  cpuAtStart ??= process.cpuUsage();
  await sql.begin((tx) =>
    upsertBaseline(tx as never, msgs.map((m) => m.json<Order>()), msgs.map((m) => m.seq))
  );
  for (const m of msgs) m.ack();
  done += msgs.length;
}
await nc.flush();
const cpu = process.cpuUsage(cpuAtStart);
console.log(JSON.stringify({
  messages: done,
  seconds: (performance.now() - started) / 1000,
  cpu_us: cpu.user + cpu.system,
}));
await nc.close();
await sql.end();
