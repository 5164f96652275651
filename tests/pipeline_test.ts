/**
 * End to end over live NATS and PostgreSQL: POST → JetStream → worker → tables, in every start order.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { jetstream } from "@nats-io/jetstream";
import { createTestEnv, post, rejectAbove, TPCH, waitForStatus } from "./harness.ts";
import { readStatuses } from "../src/db/status.ts";

const exampleOrder = JSON.parse(await readFile(TPCH + "example_order.json", "utf8"));
const customers: Record<string, unknown>[] = JSON.parse(
  await readFile(TPCH + "example_customers.json", "utf8"),
);

async function counts(sql: import("postgres").Sql) {
  const [{ orders }] = await sql`SELECT count(*)::int AS orders FROM orders`;
  const [{ items }] = await sql`SELECT count(*)::int AS items FROM order_line_items`;
  return { orders, items };
}

Deno.test("the example order becomes 1 order and 2 line items; re-posting and newer versions replace them", async () => {
  await using env = await createTestEnv();
  const { url } = await env.start("all");
  const first = await post(`${url}/ingest/message/Order`, exampleOrder);
  assert.equal(first.status, 202);
  assert.equal(first.body.status, "accepted");
  assert.equal(first.body.entity, "Order");
  assert.match(first.body.message_id as string, /^[0-9a-f-]{36}$/);
  assert.ok(!Number.isNaN(Date.parse(first.body.timestamp as string)));
  await waitForStatus(env.sql, [first.body.message_id as string], "completed");
  assert.deepEqual(await counts(env.sql), { orders: 1, items: 2 });

  const again = await post(`${url}/ingest/message/Order`, exampleOrder);
  assert.notEqual(again.body.message_id, first.body.message_id);
  await waitForStatus(env.sql, [again.body.message_id as string], "completed");
  assert.deepEqual(await counts(env.sql), { orders: 1, items: 2 });

  const newer = {
    ...exampleOrder,
    total_price: 99.5,
    line_items: [{ ...exampleOrder.line_items[1], quantity: 42 }],
  };
  const third = await post(`${url}/ingest/message/Order`, newer);
  await waitForStatus(env.sql, [third.body.message_id as string], "completed");
  assert.deepEqual(await counts(env.sql), { orders: 1, items: 1 });
  const [order] = await env.sql`SELECT total_price, _message_id FROM orders`;
  assert.equal(order.total_price, 99.5);
  assert.equal(order._message_id, third.body.message_id);
  const [item] = await env.sql`SELECT line_number, quantity FROM order_line_items`;
  assert.deepEqual({ ...item }, { line_number: 2, quantity: 42 });
});

Deno.test("a late redelivery of an older version does not overwrite the newer one", async () => {
  await using env = await createTestEnv();
  const { url } = await env.start("api");
  const older = await post(`${url}/ingest/message/Order`, { ...exampleOrder, total_price: 1 });
  const newer = await post(`${url}/ingest/message/Order`, {
    ...exampleOrder,
    total_price: 2,
    line_items: [exampleOrder.line_items[0]],
  });
  // Take the older message off the durable consumer and hand it back with a delay, as a crashed worker would:
  // the worker sees the newer one first and the older one only later, as redelivery 2.
  const nc = await env.connectNats();
  const consumer = await jetstream(nc).consumers.get(
    env.topology().consumer.stream,
    env.topology().consumer.durable_name!,
  );
  const taken = await consumer.next({ expires: 2000 });
  assert.ok(taken);
  assert.equal(taken.seq, 1);
  taken.nak(1500);
  await nc.flush();

  await env.start("worker");
  const ids = [older.body.message_id as string, newer.body.message_id as string];
  const done = await waitForStatus(env.sql, ids, "completed");
  assert.equal(done.get(ids[0])!.attempts, 2, "the older message was processed as a redelivery");
  const [order] = await env.sql`SELECT total_price, _message_id FROM orders`;
  assert.equal(order.total_price, 2);
  assert.equal(order._message_id, newer.body.message_id);
  assert.deepEqual(await counts(env.sql), { orders: 1, items: 1 });
});

for (const order of [["api", "worker"], ["worker", "api"], ["concurrently"]] as const) {
  Deno.test(`api and worker started ${order.join(" then ")} on a fresh namespace agree and messages flow`, async () => {
    await using env = await createTestEnv();
    let url: string;
    if (order[0] === "concurrently") {
      const [api] = await Promise.all([env.start("api"), env.start("worker"), env.start("worker")]);
      url = api.url;
    } else {
      const [a, b] = [await env.start(order[0]), await env.start(order[1])];
      url = (order[0] === "api" ? a : b).url;
    }
    const accepted = await post(`${url}/ingest/message/Order`, exampleOrder);
    assert.equal(accepted.status, 202);
    await waitForStatus(env.sql, [accepted.body.message_id as string], "completed");
    assert.deepEqual(await counts(env.sql), { orders: 1, items: 2 });
  });
}

Deno.test("an NDJSON batch accepts the good lines and names the bad ones", async () => {
  await using env = await createTestEnv();
  const { url } = await env.start("all");
  const lines = [
    JSON.stringify(customers[0]),
    "{not json",
    JSON.stringify(customers[1]),
    JSON.stringify({ ...customers[2], account_balance: "lots" }),
    "",
    JSON.stringify(customers[2]),
  ];
  const response = await post(`${url}/ingest/batch/Customer`, lines.join("\n"), {
    "content-type": "application/x-ndjson",
  });
  assert.equal(response.status, 202);
  assert.equal(response.body.accepted, 3);
  assert.equal(response.body.rejected, 2);
  const results = response.body.results as Record<string, unknown>[];
  assert.deepEqual(results.map((r) => [r.line, r.status]), [
    [1, "accepted"],
    [2, "rejected"],
    [3, "accepted"],
    [4, "rejected"],
    [6, "accepted"],
  ]);
  assert.deepEqual((results[3].errors as { field: string }[]).map((e) => e.field), ["account_balance"]);
  const ids = results.filter((r) => r.status === "accepted").map((r) => r.message_id as string);
  await waitForStatus(env.sql, ids, "completed");
  const rows = await env.sql`SELECT customer_key FROM customers ORDER BY customer_key`;
  assert.deepEqual(rows.map((r) => r.customer_key), ["C1001", "C1002", "C1003"]);
  assert.equal((await readStatuses(env.sql, ids)).size, 3);
});

Deno.test("a message the database rejects is dead-lettered alone; the rest of its batch commits", async () => {
  await using env = await createTestEnv();
  const api = await env.start("api");
  // ship_priority is a 32-bit Integer in the entity but the table refuses more than 32767: valid JSON that
  // only the database rejects (22003 numeric out of range) — the poison message. The worker starts after all
  // 20 are queued, so they arrive as one batch and the bad one must be isolated from the others.
  await env.migrate();
  await rejectAbove(env.sql, "orders", "ship_priority", 32767);
  const good = [] as string[];
  let poison = "";
  for (let i = 0; i < 20; i++) {
    const bad = i === 7;
    const r = await post(`${api.url}/ingest/message/Order`, {
      ...exampleOrder,
      order_key: `O${i}`,
      ship_priority: bad ? 100_000 : i,
    });
    if (bad) poison = r.body.message_id as string;
    else good.push(r.body.message_id as string);
  }
  const worker = await env.start("worker");
  await waitForStatus(env.sql, good, "completed");
  const dead = await waitForStatus(env.sql, poison, "dlq");
  assert.match(dead.error!, /22003/);
  assert.deepEqual(await counts(env.sql), { orders: 19, items: 38 });
  assert.equal(worker.runtime.worker!.counters.deadLettered, 1);
});

Deno.test("a message whose line item the database rejects commits nothing, not even its order; its batch-mates commit", async () => {
  await using env = await createTestEnv();
  const api = await env.start("api");
  await env.migrate();
  // quantity is a 32-bit Integer in the entity; only the database rejects 100000 (22003), and it
  // does so in the child insert, after the order's own row was written in the same transaction.
  await rejectAbove(env.sql, "order_line_items", "quantity", 32767);
  const orders = [1, 2, 3, 4, 5].map((i) => ({
    ...exampleOrder,
    order_key: `O${i}`,
    line_items: exampleOrder.line_items.map((item: Record<string, unknown>) => ({
      ...item,
      quantity: i === 3 && item.line_number === 2 ? 100_000 : 1,
    })),
  }));
  const response = await post(
    `${api.url}/ingest/batch/Order`,
    orders.map((o) => JSON.stringify(o)).join("\n"),
    {
      "content-type": "application/x-ndjson",
    },
  );
  assert.equal(response.body.accepted, 5);
  const ids = (response.body.results as { message_id: string }[]).map((r) => r.message_id);
  await env.start("worker");
  await waitForStatus(env.sql, ids.filter((_, i) => i !== 2), "completed");
  await waitForStatus(env.sql, ids[2], "dlq");
  const keys = await env.sql`SELECT order_key FROM orders ORDER BY order_key`;
  assert.deepEqual(keys.map((r) => r.order_key), ["O1", "O2", "O4", "O5"]);
  const [{ orphans }] = await env
    .sql`SELECT count(*)::int AS orphans FROM order_line_items WHERE order_key = 'O3'`;
  assert.equal(orphans, 0);
  assert.deepEqual(await counts(env.sql), { orders: 4, items: 8 });
});

Deno.test("nested derived entities are stored row for row, and a newer message replaces them at every depth", async () => {
  await using env = await createTestEnv({
    entities: new URL("./fixtures/nested/", import.meta.url).pathname,
  });
  const { url } = await env.start("all");
  const rows = async () => ({
    items: (await env.sql`SELECT sku FROM items ORDER BY sku`).map((r) => r.sku),
    notes: (await env.sql`SELECT sku FROM notes ORDER BY sku`).map((r) => r.sku),
    parts: (await env.sql`SELECT order_id, sku, part_no FROM parts ORDER BY sku, part_no`)
      .map((r) => `${r.order_id}/${r.sku}/${r.part_no}`),
  });
  const first = await post(`${url}/ingest/message/Order`, {
    order_id: "O1",
    items: [
      { sku: "A", parts: [{ part_no: 1 }, { part_no: 2 }] },
      { sku: "B", parts: [{ part_no: 1 }, { part_no: 2 }] },
    ],
  });
  await waitForStatus(env.sql, [first.body.message_id as string], "completed");
  assert.deepEqual(await rows(), {
    items: ["A", "B"],
    notes: ["A", "B"],
    parts: ["O1/A/1", "O1/A/2", "O1/B/1", "O1/B/2"],
  });
  const newer = await post(`${url}/ingest/message/Order`, {
    order_id: "O1",
    items: [{ sku: "C", parts: [{ part_no: 7 }] }],
  });
  await waitForStatus(env.sql, [newer.body.message_id as string], "completed");
  assert.deepEqual(await rows(), { items: ["C"], notes: ["C"], parts: ["O1/C/7"] });
});
