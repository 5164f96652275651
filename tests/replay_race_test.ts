/**
 * A replay must never destroy the dead letter that replaced it: with the cause still present, the worker
 * dead-letters the replayed message again, and that new entry (same DLQ subject) has to survive the replay's
 * clean-up of the old one.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { STATUS_TABLE } from "../src/db/statements.ts";
import { createTestEnv, post, rejectAbove, TPCH, waitForStatus } from "./harness.ts";

const STATUS = `${STATUS_TABLE.schema}.${STATUS_TABLE.name}`;

const exampleOrder = JSON.parse(await readFile(TPCH + "example_order.json", "utf8"));

Deno.test("concurrent replays while the cause is still present leave every message in the DLQ with its entry", async () => {
  await using env = await createTestEnv();
  // The cause: orders whose ship_priority the altered table cannot hold fail in the database (22003).
  await env.migrate();
  await rejectAbove(env.sql, "orders", "ship_priority", 32767);
  const all = await env.start("all");
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await post(`${all.url}/ingest/message/Order`, {
      ...exampleOrder,
      order_key: `R${i}`,
      ship_priority: 70_000 + i,
    });
    ids.push(r.body.message_id as string);
  }
  const allDead = () => waitForStatus(env.sql, ids, "dlq");
  await allDead();
  // Slow the replay's own status write (dlq → accepted) down, as a loaded database would: the worker then
  // fails the replayed message and stores its new dead letter before the replay has committed and cleaned up.
  await env.sql.unsafe(`
      CREATE FUNCTION ${STATUS_TABLE.schema}.slow_replay() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF OLD.status = 'dlq' AND NEW.status = 'accepted' THEN PERFORM pg_sleep(0.4); END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER slow_replay BEFORE UPDATE ON ${STATUS} FOR EACH ROW EXECUTE FUNCTION ${STATUS_TABLE.schema}.slow_replay();
    `);

  for (let round = 0; round < 2; round++) {
    const replays = await Promise.all(Array.from({ length: 3 }, () =>
      fetch(`${all.url}/dlq/replay`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ entity: "Order" }),
      }).then((r) => r.json())));
    // A message dead-lettered again before a slower replay reached it is replayed once more: at least once each.
    assert.ok(replays.reduce((n, r) => n + r.replayed, 0) >= ids.length, "every dead letter was replayed");
    await allDead();
    for (const [i, id] of ids.entries()) {
      const shown = await fetch(`${all.url}/dlq/${id}`).then((r) => r.json());
      assert.equal(
        shown.message?.order_key,
        `R${i}`,
        `message ${id} is listed as dead-lettered and its payload is still in the DLQ (round ${round})`,
      );
    }
  }
});
