/**
 * The status table's guard against live PostgreSQL: a late write never takes a message back in time.
 */
import assert from "node:assert/strict";
import { readStatuses, type StatusRow, upsertStatuses } from "../src/db/status.ts";
import { createTestEnv } from "./harness.ts";

Deno.test("a late status write from a redelivery never overwrites completed, dlq or dropped", async () => {
  await using env = await createTestEnv();
  await env.migrate();
  const receivedAt = new Date();
  const write = (messageId: string, status: StatusRow["status"], seq?: number) =>
    upsertStatuses(env.sql, [{ messageId, entity: "Order", status, seq, receivedAt, attempts: 1 }]);
  const statusOf = async (id: string) => (await readStatuses(env.sql, [id])).get(id)!.status;

  await write("done", "retrying", 1);
  await write("done", "completed", 1);
  await write("done", "retrying", 1);
  await write("done", "processing", 1);
  assert.equal(await statusOf("done"), "completed", "a retrying write that lost the race changes nothing");
  await write("done", "dlq", 1);
  assert.equal(await statusOf("done"), "completed");

  await write("dead", "dlq", 2);
  await write("dead", "retrying", 2);
  assert.equal(await statusOf("dead"), "dlq");
  await write("dead", "accepted", 7); // replay: a new stream message
  assert.equal(await statusOf("dead"), "accepted");
  await write("dead", "retrying", 2);
  assert.equal(await statusOf("dead"), "accepted", "a write from the older stream message changes nothing");
  await write("dead", "completed", 7);
  assert.equal(await statusOf("dead"), "completed");
  const history = (await readStatuses(env.sql, ["dead"])).get("dead")!.history.map((h) => h.status);
  assert.deepEqual(history, ["dlq", "accepted", "completed"]);

  await write("dropped", "dlq", 3);
  await write("dropped", "dropped");
  await write("dropped", "accepted");
  await write("dropped", "retrying", 3);
  assert.equal(await statusOf("dropped"), "dropped");
});
