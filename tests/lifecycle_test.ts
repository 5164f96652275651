/**
 * The message lifecycle over live NATS and PostgreSQL: status from the first moment, retries through an outage,
 * dead letters and their replay, idempotency, and the invariant — every accepted message ends completed or in
 * the dead-letter queue, exactly once each, by id.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createLogger } from "../src/log.ts";
import { STATUS_TABLE } from "../src/db/statements.ts";
import { readStatuses } from "../src/db/status.ts";
import {
  acceptAgain,
  createTestEnv,
  post,
  rejectAbove,
  request,
  type TestEnv,
  TPCH,
  waitFor,
  waitForStatus,
} from "./harness.ts";

/** The statuses a message ends in. */
const SETTLED = ["completed", "dlq"] as const;

const exampleOrder = JSON.parse(await readFile(TPCH + "example_order.json", "utf8"));

/** Orders whose ship_priority is above 32767 are rejected by the database only (22003, as a smallint would). */
async function makeShipPrioritySmall(env: TestEnv) {
  await env.migrate();
  await rejectAbove(env.sql, "orders", "ship_priority", 32767);
}

Deno.test("a message's status is queryable right after its 202, then follows it to completed", async () => {
  await using env = await createTestEnv();
  const api = await env.start("api");
  const { body } = await post(`${api.url}/ingest/message/Order`, exampleOrder);
  const id = body.message_id as string;
  const early = await request(`${api.url}/ingest/status/${id}`);
  assert.equal(early.status, 200, "never 404 for an id the API just returned");
  assert.equal(early.body.status, "accepted");
  assert.equal(early.body.entity, "Order");
  assert.ok(early.body.received_at);

  await env.start("worker");
  const done = await waitForStatus(api.url, id, "completed");
  assert.equal(done.attempts, 1);
  assert.ok(done.processed_at);
  assert.equal(done.error, null);

  const unknown = await request(`${api.url}/ingest/status/${crypto.randomUUID()}`);
  assert.equal(unknown.status, 404);
  assert.equal((await request(`${api.url}/ingest/status/not-an-id`)).status, 400);
  const both = await request(`${api.url}/ingest/status`, {
    method: "POST",
    body: JSON.stringify({ message_ids: [id, "0193a0c0-0000-7000-8000-000000000000"] }),
  });
  assert.deepEqual(both.body.results.map((r: { status: string }) => r.status), ["completed", "unknown"]);
});

Deno.test("while the database is away messages wait and retry; after it returns they complete, none in the DLQ", async () => {
  await using env = await createTestEnv({
    flags: ["--max-deliver=2", "--retry-base-ms=100", "--retry-max-ms=300"],
  });
  const all = await env.start("all");
  await env.cutDatabase();
  const ids: string[] = [];
  for (let i = 0; i < 30; i++) {
    const r = await post(`${all.url}/ingest/message/Order`, { ...exampleOrder, order_key: `O${i}` });
    assert.equal(r.status, 202, "ingest does not need the database");
    ids.push(r.body.message_id as string);
  }
  // Several failed attempts each, well past --max-deliver, but inside the (default, one hour) retry budget.
  await waitFor("retries", () => all.runtime.worker!.counters.retried >= 3 * ids.length);
  await env.restoreDatabase();
  const final = await waitForStatus(env.sql, ids, SETTLED);
  assert.ok(ids.every((id) => final.get(id)!.status === "completed"));
  assert.ok(Math.max(...[...final.values()].map((s) => s.attempts)) > 2, "retried past --max-deliver");
  assert.equal(all.runtime.worker!.counters.deadLettered, 0);
  const [{ orders }] = await env.sql`SELECT count(*)::int AS orders FROM orders`;
  assert.equal(orders, 30);
});

Deno.test("a dead letter can be listed, inspected, replayed after the cause is fixed, and dropped", async () => {
  await using env = await createTestEnv();
  await makeShipPrioritySmall(env);
  const all = await env.start("all");
  const bad = await post(`${all.url}/ingest/message/Order`, { ...exampleOrder, ship_priority: 70_000 });
  const worse = await post(`${all.url}/ingest/message/Order`, {
    ...exampleOrder,
    order_key: "O2",
    ship_priority: 80_000,
  });
  const ids = [bad.body.message_id as string, worse.body.message_id as string];
  await waitForStatus(env.sql, ids, SETTLED);

  const listed = await request(`${all.url}/dlq?entity=Order&error=22003&limit=1`);
  assert.equal(listed.status, 200);
  assert.equal(listed.body.entries.length, 1);
  assert.ok(listed.body.next_cursor);
  const page2 = await request(`${all.url}/dlq?entity=Order&limit=1&cursor=${listed.body.next_cursor}`);
  assert.deepEqual(
    [listed.body.entries[0].message_id, page2.body.entries[0].message_id].sort(),
    [...ids].sort(),
  );
  assert.equal((await request(`${all.url}/dlq?entity=Customer`)).body.entries.length, 0);
  assert.equal((await request(`${all.url}/dlq?entity=order`)).body.entries.length, 2, "entity: any case");
  assert.equal(
    (await request(`${all.url}/dlq?error=${encodeURIComponent("%")}`)).body.entries.length,
    0,
    "% in the error filter is a literal character, not a LIKE wildcard",
  );
  assert.equal((await request(`${all.url}/dlq?since=yesterday`)).status, 400);

  const shown = await request(`${all.url}/dlq/${ids[0]}`);
  assert.equal(shown.body.status, "dlq");
  assert.match(shown.body.error, /22003/);
  assert.equal(shown.body.message.ship_priority, 70_000, "the original message is kept");
  assert.ok(shown.body.dead_at);

  await acceptAgain(env.sql, "orders", "ship_priority");
  const replayed = await request(`${all.url}/dlq/${ids[0]}/replay`, { method: "POST" });
  assert.equal(replayed.status, 202);
  await waitForStatus(env.sql, ids[0], "completed");
  const status = await request(`${all.url}/ingest/status/${ids[0]}`);
  assert.deepEqual(status.body.history.map((h: { status: string }) => h.status), [
    "dlq",
    "accepted",
    "completed",
  ]);
  const [{ rows }] = await env.sql`SELECT count(*)::int AS rows FROM ${env.sql(STATUS_TABLE.schema!)}.${
    env.sql(STATUS_TABLE.name)
  } WHERE message_id = ${ids[0]}`;
  assert.equal(rows, 1, "the replay keeps the acceptance time that keys the status row: still one row");
  assert.equal(
    (await request(`${all.url}/dlq/${ids[0]}`)).status,
    404,
    "a replayed message leaves the DLQ",
  );

  const dropped = await request(`${all.url}/dlq/${ids[1]}`, { method: "DELETE" });
  assert.equal(dropped.body.status, "dropped");
  assert.equal(
    (await request(`${all.url}/dlq/${ids[1]}/replay`, { method: "POST" })).status,
    409,
    "a dropped message is known but no longer in the DLQ",
  );
  assert.equal(
    (await request(`${all.url}/dlq/${crypto.randomUUID()}/replay`, { method: "POST" })).status,
    404,
  );
  const [{ orders }] = await env.sql`SELECT count(*)::int AS orders FROM orders`;
  assert.equal(orders, 1);
});

Deno.test("POST /dlq/replay replays every match of a filter and reports counts", async () => {
  await using env = await createTestEnv();
  await makeShipPrioritySmall(env);
  const all = await env.start("all");
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await post(`${all.url}/ingest/message/Order`, {
      ...exampleOrder,
      order_key: `O${i}`,
      ship_priority: 99_999,
    });
    ids.push(r.body.message_id as string);
  }
  await waitForStatus(env.sql, ids, SETTLED);
  await acceptAgain(env.sql, "orders", "ship_priority");
  const nothing = await request(`${all.url}/dlq/replay`, { method: "POST", body: "{}" });
  assert.equal(nothing.status, 400, 'replaying everything takes {"all": true}');
  const typo = await request(`${all.url}/dlq/replay`, {
    method: "POST",
    body: JSON.stringify({ entity: "Order", eror: "22003" }),
  });
  assert.equal(typo.status, 400);
  assert.match(typo.body.error, /unknown key "eror"/);
  const report = await request(`${all.url}/dlq/replay`, {
    method: "POST",
    body: JSON.stringify({ entity: "Order" }),
  });
  assert.deepEqual(
    { matched: report.body.matched, replayed: report.body.replayed, failed: report.body.failed },
    { matched: 5, replayed: 5, failed: 0 },
  );
  await waitForStatus(env.sql, ids, "completed");
});

Deno.test("two concurrent replays of one dead letter re-publish it once: one 202, the others 409", async () => {
  await using env = await createTestEnv();
  const nc = await env.connectNats();
  await makeShipPrioritySmall(env);
  const worker = await env.start("worker");
  const api = await env.start("api");
  const { body } = await post(`${api.url}/ingest/message/Order`, {
    ...exampleOrder,
    ship_priority: 70_000,
  });
  const id = body.message_id as string;
  await waitForStatus(env.sql, [id], SETTLED);
  await worker.stop(); // nothing consumes the ingest stream now: every re-publish stays there to be counted

  const answers = await Promise.all(
    Array.from({ length: 5 }, () => request(`${api.url}/dlq/${id}/replay`, { method: "POST" })),
  );
  assert.deepEqual(answers.map((a) => a.status).sort(), [202, 409, 409, 409, 409]);
  const jsm = await jetstreamManager(nc);
  const topology = env.topology();
  assert.equal((await jsm.streams.info(topology.ingest.name)).state.messages, 1, "re-published once");
  assert.equal((await jsm.streams.info(topology.dlq.name)).state.messages, 0, "the entry left the DLQ");
  assert.equal((await readStatuses(env.sql, [id])).get(id)!.status, "accepted");
});

Deno.test("a batch status request for 1,000 ids in the backlog answers, each accepted", async () => {
  await using env = await createTestEnv();
  const api = await env.start("api"); // no worker: every message stays in the ingest stream
  const ids: string[] = [];
  for (let batch = 0; batch < 4; batch++) {
    const lines = Array.from(
      { length: 250 },
      (_, i) => JSON.stringify({ ...exampleOrder, order_key: `O${batch * 250 + i}` }),
    );
    const r = await post(`${api.url}/ingest/batch/Order`, lines.join("\n"));
    ids.push(...(r.body.results as { message_id: string }[]).map((x) => x.message_id));
  }
  assert.equal(ids.length, 1000);
  const answer = await request(`${api.url}/ingest/status`, {
    method: "POST",
    body: JSON.stringify({ message_ids: ids }),
  });
  assert.equal(answer.status, 200);
  assert.ok(answer.body.results.every((r: { status: string }) => r.status === "accepted"));
});

Deno.test("status and dead-letter routes answer 503 with Retry-After while PostgreSQL is away", async () => {
  await using env = await createTestEnv();
  const api = await env.start("api");
  const { body } = await post(`${api.url}/ingest/message/Order`, exampleOrder);
  await env.cutDatabase();
  for (
    const [path, init] of [
      [`/ingest/status/${body.message_id}`, undefined],
      ["/ingest/status", { method: "POST", body: JSON.stringify({ message_ids: [body.message_id] }) }],
      ["/dlq", undefined],
      [`/dlq/${body.message_id}`, undefined],
      [`/dlq/${body.message_id}/replay`, { method: "POST" }],
      [`/dlq/${body.message_id}`, { method: "DELETE" }],
    ] as const
  ) {
    const response = await fetch(`${api.url}${path}`, {
      ...init,
      headers: init?.method ? { "content-type": "application/json" } : {},
    });
    await response.body?.cancel();
    assert.equal(response.status, 503, `${init?.method ?? "GET"} ${path}`);
    assert.ok(Number(response.headers.get("retry-after")) > 0, `${path} says when to retry`);
  }
});

Deno.test("a dead letter whose status cannot be written leaves the DLQ again and waits for its retry", async () => {
  const lines: string[] = [];
  await using env = await createTestEnv({
    flags: ["--retry-base-ms=4000", "--retry-max-ms=4000"],
    log: createLogger("error", {}, (line) => lines.push(line)),
  });
  const nc = await env.connectNats();
  await env.start("worker");
  await env.cutDatabase();
  const topology = env.topology();
  const id = crypto.randomUUID();
  await jetstream(nc).publish(topology.ingestSubject("Order", id), "not JSON: dead-lettered at once");
  await waitFor("a failed move to the DLQ", () => lines.some((l) => l.includes("status write failed")));
  const jsm = await jetstreamManager(nc);
  assert.equal(
    (await jsm.streams.info(topology.dlq.name)).state.messages,
    0,
    "no DLQ entry without its status",
  );
  assert.equal((await jsm.streams.info(topology.ingest.name)).state.messages, 1, "the message is kept");
  await env.restoreDatabase();
  await waitForStatus(env.sql, id, "dlq");
  assert.equal((await jsm.streams.info(topology.dlq.name)).state.messages, 1);
  await waitFor("acked", async () => (await jsm.streams.info(topology.ingest.name)).state.messages === 0);
});

Deno.test("an Idempotency-Key repeat returns the same id with duplicate: true and makes one row", async () => {
  await using env = await createTestEnv();
  const all = await env.start("all");
  const headers = { "Idempotency-Key": "checkout-42" };
  const [a, b] = await Promise.all([
    post(`${all.url}/ingest/message/Order`, exampleOrder, headers),
    post(`${all.url}/ingest/message/Order`, exampleOrder, headers),
  ]);
  assert.equal(a.body.message_id, b.body.message_id);
  assert.deepEqual([a.status, b.status].sort(), [200, 202]);
  const id = a.body.message_id as string;
  await waitForStatus(env.sql, [id], SETTLED);
  const later = await post(`${all.url}/ingest/message/Order`, exampleOrder, headers);
  assert.equal(later.status, 200);
  assert.equal(later.body.duplicate, true);
  assert.equal(later.body.message_id, id);
  assert.equal(later.body.status, "completed");
  const [{ count }] = await env.sql`SELECT count(*)::int AS count FROM ${env.sql(STATUS_TABLE.schema!)}.${
    env.sql(STATUS_TABLE.name)
  }`;
  assert.equal(count, 1);
  const [{ seq }] = await env.sql`SELECT _seq::int AS seq FROM orders`;
  assert.equal(seq, 1, "only one message ever reached the stream");
});

Deno.test("every accepted message ends completed or dead-lettered, exactly once, over 1,200 with failures", async () => {
  await using env = await createTestEnv({
    flags: ["--retry-base-ms=100", "--retry-max-ms=500", "--batch-size=200"],
  });
  const nc = await env.connectNats();
  await makeShipPrioritySmall(env);
  const api = await env.start("api");
  const workers = [await env.start("worker"), await env.start("worker")];
  const poisoned = new Set<string>();
  const accepted: string[] = [];
  for (let batch = 0; batch < 12; batch++) {
    if (batch === 4) await env.cutDatabase(); // an outage in the middle of the run
    if (batch === 8) await env.restoreDatabase();
    const lines = Array.from({ length: 100 }, (_, i) => {
      const n = batch * 100 + i;
      return JSON.stringify({
        ...exampleOrder,
        order_key: `O${n}`,
        ship_priority: n % 23 === 0 ? 50_000 : 1,
      });
    });
    const r = await post(`${api.url}/ingest/batch/Order`, lines.join("\n"));
    assert.equal(r.body.accepted, 100);
    for (const result of r.body.results as { message_id: string; line: number }[]) {
      accepted.push(result.message_id);
      if ((batch * 100 + result.line - 1) % 23 === 0) poisoned.add(result.message_id);
    }
  }
  const final = await waitForStatus(env.sql, accepted, SETTLED, { timeoutMs: 120_000 });
  const dead = accepted.filter((id) => final.get(id)!.status === "dlq");
  assert.deepEqual(new Set(dead), poisoned, "exactly the poisoned messages are dead-lettered");

  const jsm = await jetstreamManager(nc);
  const topology = env.topology();
  const dlq = await jsm.streams.info(topology.dlq.name, { subjects_filter: ">" });
  const inDlq = Object.entries(dlq.state.subjects ?? {});
  assert.equal(inDlq.length, poisoned.size);
  for (const [subject, count] of inDlq) {
    assert.equal(count, 1, `${subject} is in the DLQ once`);
    assert.ok(poisoned.has(topology.parseSubject(subject).messageId));
  }
  assert.equal((await jsm.streams.info(topology.ingest.name)).state.messages, 0, "nothing left behind");
  const [{ orders }] = await env.sql`SELECT count(*)::int AS orders FROM orders`;
  assert.equal(orders, accepted.length - poisoned.size);
  assert.ok(workers.every((w) => w.runtime.worker!.counters.completed > 0), "both workers shared the work");
});
