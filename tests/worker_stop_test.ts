/**
 * A worker that stops hands back at once what it pulled but had not started, so another worker gets it now
 * instead of after the consumer's ack wait.
 */
import { readFile } from "node:fs/promises";
import { jetstreamManager } from "@nats-io/jetstream";
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
