/**
 * A worker that stops hands back at once what it pulled but had not started, so another worker gets it now
 * instead of after the consumer's ack wait.
 */
import { readFile } from "node:fs/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import assert from "node:assert/strict";
import { createTestEnv, post, TPCH, waitFor, waitForStatus } from "./harness.ts";

const exampleOrder = JSON.parse(await readFile(TPCH + "example_order.json", "utf8"));

Deno.test("a stopping worker hands back what it pulled but had not started: another worker completes it at once", async () => {
  const batchSize = 5;
  // The ack wait is far longer than the test waits: a message the stopping worker left unacked stays away.
  await using env = await createTestEnv({ flags: [`--batch-size=${batchSize}`, "--ack-wait-ms=120000"] });
  const locker = await env.sql.reserve();
  try {
    const api = await env.start("api");
    const postOrders = async (keys: string[]) => {
      const ids: string[] = [];
      for (const key of keys) {
        const { body } = await post(`${api.url}/ingest/message/Order`, { ...exampleOrder, order_key: key });
        ids.push(body.message_id as string);
      }
      return ids;
    };
    const held = Array.from({ length: 2 * batchSize }, (_, i) => `H${i}`);
    const first = await env.start("worker");
    await waitForStatus(env.sql, await postOrders(held), "completed");
    await first.stop();
    // The stopping worker's first two batches (new versions of these orders) wait on these row locks, in the
    // database, as long as the test wants; what it pulled after them has not started.
    await locker`BEGIN`;
    await locker`SELECT 1 FROM orders WHERE order_key = ANY(${held}) FOR UPDATE`;
    const heldIds = await postOrders(held);
    const freeIds = await postOrders(Array.from({ length: 50 }, (_, i) => `F${i}`));
    const jsm = await jetstreamManager(await env.connectNats());
    const { stream, durable_name } = env.topology().consumer;
    const leaving = await env.start("worker");
    await waitFor(
      "the worker to pull more than the two batches it is writing",
      async () => (await jsm.consumers.info(stream, durable_name!)).num_ack_pending > 3 * batchSize,
    );
    const stopping = leaving.stop();
    await env.start("worker");
    await waitForStatus(env.sql, freeIds, "completed");
    await locker`ROLLBACK`;
    await stopping;
    await waitForStatus(env.sql, heldIds, "completed");
  } finally {
    await locker`ROLLBACK`.catch(() => {});
    locker.release();
  }
});

Deno.test("a worker told to stop while what the server sent to its pull sits unread hands that back too", async () => {
  // The ack wait is far longer than the test waits: a message the stopping worker dropped unacked stays away.
  await using env = await createTestEnv({ flags: ["--batch-size=50", "--ack-wait-ms=120000"] });
  const api = await env.start("api");
  const jsm = await jetstreamManager(await env.connectNats());
  const { stream, durable_name } = env.topology().consumer;
  const consumer = () => jsm.consumers.info(stream, durable_name!);
  const leaving = env.spawn("worker");
  await leaving.waitForLog(/"worker started"/, { timeoutMs: 60_000 });
  let ids: string[] = [];
  // Frozen (SIGSTOP), the worker cannot read what the server sends to its open pull: it stays in the socket.
  // The pull may expire meanwhile (5 s); then the worker, thawed, takes the orders and the test tries again.
  for (let attempt = 1; ids.length === 0; attempt++) {
    await waitFor("the worker's pull to be open", async () => (await consumer()).num_waiting > 0);
    leaving.signal("SIGSTOP");
    const posted: string[] = [];
    for (let i = 0; i < 10; i++) {
      const { body } = await post(`${api.url}/ingest/message/Order`, {
        ...exampleOrder,
        order_key: `U${attempt}-${i}`,
      });
      posted.push(body.message_id as string);
    }
    const sent = await waitFor("the server to send the orders to the frozen worker", async () => {
      const c = await consumer();
      return c.num_ack_pending === posted.length || c.num_pending > 0 ? c : undefined;
    });
    if (sent.num_ack_pending === posted.length && sent.num_pending === 0) ids = posted;
    else {
      leaving.signal("SIGCONT");
      await waitForStatus(env.sql, posted, "completed");
      assert.ok(attempt < 5, "the worker's pull expired before the orders reached it, five times");
    }
  }
  await env.start("worker");
  // Told to stop as it thaws: the signal may be handled before the socket is read.
  leaving.signal("SIGTERM");
  leaving.signal("SIGCONT");
  assert.equal(await leaving.exited, 0);
  await waitForStatus(env.sql, ids, "completed", { timeoutMs: 30_000 });
});
