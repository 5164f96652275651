/**
 * The API contract against live NATS and PostgreSQL: every answer of a message's whole life — accepted,
 * completed, dead-lettered, listed, shown, replayed, dropped — matches the schema the OpenAPI document gives it,
 * with the timestamps and histories PostgreSQL really writes.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createTestEnv, rejectAbove, TPCH, waitFor } from "./harness.ts";
import { createResponseChecker } from "./openapi_check.ts";

type Json = Record<string, unknown>;

const exampleOrder = JSON.parse(await readFile(TPCH + "example_order.json", "utf8"));

Deno.test("live answers over a message's whole life match the OpenAPI document", async () => {
  await using env = await createTestEnv();
  // Orders whose ship_priority is above 32767 are rejected by the database only (22003).
  await env.migrate();
  await rejectAbove(env.sql, "orders", "ship_priority", 32767);
  const all = await env.start("all");
  const document = await (await fetch(`${all.url}/openapi.json`)).json();
  const check = createResponseChecker(document);
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const init: RequestInit = { method, headers: { "content-type": "application/json", ...headers } };
    if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
    const response = await fetch(`${all.url}${path}`, init);
    return { status: response.status, body: await check(method, path, response) as Json };
  };

  const good = await call("POST", "/ingest/message/Order", exampleOrder, {
    "Idempotency-Key": "contract-1",
  });
  const bad = await call("POST", "/ingest/message/Order", {
    ...exampleOrder,
    order_key: "O2",
    ship_priority: 70_000,
  });
  assert.deepEqual([good.status, bad.status], [202, 202]);
  const [goodId, badId] = [good.body.message_id as string, bad.body.message_id as string];
  const batch = await call(
    "POST",
    "/ingest/batch/Order",
    `${JSON.stringify({ ...exampleOrder, order_key: "O3" })}\n{nope\n`,
    { "content-type": "application/x-ndjson" },
  );
  assert.deepEqual([batch.status, batch.body.accepted, batch.body.rejected], [202, 1, 1]);

  const statusOf = async (id: string) => (await call("GET", `/ingest/status/${id}`)).body.status;
  await waitFor("the good order completed", async () => (await statusOf(goodId)) === "completed");
  await waitFor("the bad order dead-lettered", async () => (await statusOf(badId)) === "dlq");
  const repeat = await call("POST", "/ingest/message/Order", exampleOrder, {
    "Idempotency-Key": "contract-1",
  });
  assert.deepEqual([repeat.status, repeat.body.message_id, repeat.body.duplicate], [200, goodId, true]);
  const statuses = await call("POST", "/ingest/status", {
    message_ids: [goodId, badId, "0193a0c0-0000-7000-8000-000000000000"],
  });
  assert.deepEqual((statuses.body.results as Json[]).map((r) => r.status), ["completed", "dlq", "unknown"]);

  const page = await call("GET", "/dlq?entity=Order&limit=10");
  assert.deepEqual((page.body.entries as Json[]).map((e) => e.message_id), [badId]);
  const shown = await call("GET", `/dlq/${badId}`);
  assert.match(String(shown.body.error), /22003/);
  assert.equal((await call("POST", `/dlq/${badId}/replay`)).status, 202);
  await waitFor("the replayed order dead-lettered again", async () => (await statusOf(badId)) === "dlq");
  const replayed = await call("POST", "/dlq/replay", { entity: "Order" });
  assert.equal(replayed.body.replayed, 1);
  await waitFor("dead-lettered once more", async () => (await statusOf(badId)) === "dlq");
  assert.equal((await call("DELETE", `/dlq/${badId}`)).status, 200);
  assert.equal((await call("DELETE", `/dlq/${badId}`)).status, 409);
  assert.equal((await call("GET", "/dlq?since=yesterday")).status, 400);

  for (const path of ["/health", "/ready", "/stats", "/metrics"]) {
    assert.equal((await call("GET", path)).status, 200, path);
  }
});
