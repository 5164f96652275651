/**
 * An Idempotency-Key names one message: repeating it with the same body is a duplicate (200), with another body
 * a 422 that says so, whether the first message is still in the stream, completed, or arrived in the same
 * moment. Nothing a client sent is silently dropped.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createTestEnv, post, TPCH, waitForStatus } from "./harness.ts";

const exampleOrder = JSON.parse(await readFile(TPCH + "example_order.json", "utf8"));

Deno.test("an Idempotency-Key reused with another body is refused with 422, in the stream and after completion", async () => {
  await using env = await createTestEnv();
  const api = await env.start("api");
  const key = { "Idempotency-Key": "order-O777-v1" };
  const first = await post(`${api.url}/ingest/message/Order`, { ...exampleOrder, order_key: "O777" }, key);
  assert.equal(first.status, 202);
  const changed = { ...exampleOrder, order_key: "O777", total_price: 1 };

  // No worker yet: the first message is still in the ingest stream.
  const inStream = await post(`${api.url}/ingest/message/Order`, changed, key);
  assert.equal(inStream.status, 422);
  assert.match(
    inStream.body.error as string,
    /Idempotency-Key "order-O777-v1" was already used for another/,
  );
  const same = await post(`${api.url}/ingest/message/Order`, { ...exampleOrder, order_key: "O777" }, key);
  assert.equal(same.status, 200);
  assert.equal(same.body.duplicate, true);
  assert.equal(same.body.message_id, first.body.message_id);

  await env.start("worker");
  await waitForStatus(env.sql, [first.body.message_id as string], "completed");
  const completed = await post(`${api.url}/ingest/message/Order`, changed, key);
  assert.equal(completed.status, 422, "the status row keeps the body's hash");
  assert.equal(
    (await post(`${api.url}/ingest/message/Order`, { ...exampleOrder, order_key: "O777" }, key)).status,
    200,
  );

  // Two requests with one key and different bodies at the same moment: one is stored, the other refused.
  const raceKey = { "Idempotency-Key": "order-O778-v1" };
  const raced = await Promise.all(
    [1, 2].map((price) =>
      post(
        `${api.url}/ingest/message/Order`,
        { ...exampleOrder, order_key: "O778", total_price: price },
        raceKey,
      )
    ),
  );
  assert.deepEqual(raced.map((r) => r.status).sort(), [202, 422]);
  const [{ orders }] = await env.sql`SELECT count(*)::int AS orders FROM orders WHERE order_key = 'O777'`;
  assert.equal(orders, 1);
});
