/**
 * nats-server 2.9 killed with -9 and restarted on its store brings back work-queue messages the consumer had
 * acked (src/stream/acked_leftovers.ts). The sweep removes those, and never a message the consumer has not acked.
 */
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { ensureTopology } from "../src/stream/ensure.ts";
import { purgeAckedLeftovers } from "../src/stream/acked_leftovers.ts";
import { createLogger } from "../src/log.ts";
import { createTestEnv } from "./harness.ts";
import { startPrivateNats } from "./private_nats.ts";

const TOTAL = 400;
const ACKED_IN_ORDER = 250; // the ack floor
const DELIVERED = 320; // 251..320 delivered and not acked, but for the one acked out of order
const ACKED_ABOVE_FLOOR = 300;

Deno.test("after nats-server is killed with -9, the sweep removes what the consumer acked and keeps every unacked message", async () => {
  await using nats = await startPrivateNats();
  await using env = await createTestEnv({ nats });
  const topology = env.topology();
  const name = topology.ingest.name;
  const durable = topology.consumer.durable_name!;
  const log = createLogger("error");
  const open = async () => {
    const nc = await connect({ servers: nats.url });
    return { nc, js: jetstream(nc), jsm: await jetstreamManager(nc) };
  };

  let c = await open();
  await ensureTopology(c.jsm, topology, log, { clustered: false, seen: 1 });
  for (let i = 1; i <= TOTAL; i++) {
    await c.js.publish(topology.ingestSubject("Order", `m${i}`), JSON.stringify({ i }));
  }
  const consumer = await c.js.consumers.get(name, durable);
  const delivered = [];
  while (delivered.length < DELIVERED) {
    const batch = await consumer.fetch({ max_messages: DELIVERED - delivered.length, expires: 2000 });
    for await (const msg of batch) delivered.push(msg);
  }
  for (const msg of delivered) {
    if (msg.seq <= ACKED_IN_ORDER || msg.seq === ACKED_ABOVE_FLOOR) assert.ok(await msg.ackAck());
  }
  // A crash right after the acks: the file store has not flushed its deletes.
  await c.nc.close();
  await nats.pause("SIGKILL");
  await nats.resume();

  c = await open();
  try {
    const before = await c.jsm.streams.info(name);
    const sweep = await purgeAckedLeftovers(c.jsm, topology);
    assert.equal(sweep.refused, undefined);
    const unacked = Array.from({ length: TOTAL }, (_, i) => i + 1)
      .filter((seq) => seq > ACKED_IN_ORDER && seq !== ACKED_ABOVE_FLOOR);
    const remaining: number[] = [];
    for (let seq = 1; seq <= TOTAL; seq++) {
      const msg = await c.jsm.streams.getMessage(name, { seq }).catch(() => null);
      if (msg) remaining.push(seq);
    }
    // The consumer's state may come back older than the acks (it is flushed lazily too): then the floor is
    // lower and what lies above it is delivered again, never lost. What the sweep removed is at most the floor.
    assert.ok(sweep.floor <= ACKED_IN_ORDER, `ack floor ${sweep.floor}`);
    const story =
      `stream held ${before.state.messages} after the restart (first ${before.state.first_seq}), ` +
      `floor ${sweep.floor}, the sweep removed ${sweep.removed}`;
    for (const seq of unacked) assert.ok(remaining.includes(seq), `unacked message ${seq} is gone; ${story}`);
    assert.deepEqual(remaining.filter((seq) => seq <= sweep.floor), [], `acked messages stayed; ${story}`);
    assert.equal((await c.jsm.streams.info(name)).state.messages, remaining.length);
  } finally {
    await c.nc.close();
  }
});
