/**
 * The status table's retention against a live PostgreSQL: one partition a day, made ahead, expired days dropped
 * whole, unfinished messages outliving their day under the same key, and a table from before partitioning
 * converted with its rows.
 */
import assert from "node:assert/strict";
import { migrate } from "../src/db/migrate.ts";
import { readStatuses, type StatusRow, upsertStatuses } from "../src/db/status.ts";
import { maintainStatusPartitions, PARTITION_DAYS_AHEAD, partitionName } from "../src/db/status_retention.ts";
import { STATUS_DEFAULT_PARTITION } from "../src/db/statements.ts";
import { silentLogger } from "../src/log.ts";
import { createTestEnv } from "./harness.ts";

const DAY = 24 * 60 * 60 * 1000;
const today = Math.floor(Date.now() / DAY) * DAY;

/** Which partition holds each message's row(s). */
async function placement(sql: import("postgres").Sql, ids: string[]): Promise<Record<string, string[]>> {
  const rows = await sql`SELECT message_id, tableoid::regclass::text AS part FROM nomnom.messages
    WHERE message_id = ANY(${ids}) ORDER BY message_id`;
  const out: Record<string, string[]> = {};
  for (const r of rows) (out[r.message_id] ??= []).push(r.part.replace(/^nomnom\./, ""));
  return out;
}

const partitions = async (sql: import("postgres").Sql) =>
  (await sql`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'nomnom.messages'::regclass ORDER BY 1`).map((r) => r.name as string);

Deno.test("status rows live in day partitions: made ahead, expired days dropped whole, a dead letter outlives its day under its key", async () => {
  await using env = await createTestEnv();
  await env.migrate();
  const old = today - 10 * DAY + 3_600_000; // 01:00 ten days ago
  const first = await maintainStatusPartitions(env.sql, { retentionDays: 3, now: old });
  assert.deepEqual(
    first!.created,
    Array.from({ length: 3 + 1 + PARTITION_DAYS_AHEAD }, (_, i) => partitionName(today - 13 * DAY + i * DAY)),
  );
  const write = (messageId: string, status: StatusRow["status"], receivedAt: number, seq = 1) =>
    upsertStatuses(env.sql, [{
      messageId,
      entity: "Order",
      status,
      seq,
      receivedAt: new Date(receivedAt),
      attempts: 1,
    }]);
  await write("done", "completed", old);
  await write("dead", "dlq", old);
  await write("retried", "retrying", old + 60_000);
  await write("fresh", "completed", Date.now());
  assert.deepEqual(await placement(env.sql, ["dead", "done", "fresh", "retried"]), {
    dead: [partitionName(today - 10 * DAY)],
    done: [partitionName(today - 10 * DAY)],
    fresh: [STATUS_DEFAULT_PARTITION],
    retried: [partitionName(today - 10 * DAY)],
  }, "a day without a partition lands in the default one");

  const now = await maintainStatusPartitions(env.sql, { retentionDays: 3 });
  assert.ok(now!.created.includes(partitionName(today)));
  assert.deepEqual(now!.kept, [{ partition: partitionName(today - 10 * DAY), rows: 2 }]);
  assert.equal(now!.dropped.length, 3 + 1 + PARTITION_DAYS_AHEAD - 1, "the other expired days went whole");
  assert.deepEqual(await placement(env.sql, ["dead", "done", "fresh", "retried"]), {
    dead: [partitionName(today - 10 * DAY)],
    fresh: [partitionName(today)],
    retried: [partitionName(today - 10 * DAY)],
  }, "the finished message of the expired day is gone; today's row moved out of the default partition");
  assert.deepEqual(
    await partitions(env.sql),
    [
      STATUS_DEFAULT_PARTITION,
      partitionName(today - 10 * DAY),
      ...Array.from(
        { length: 3 + 1 + PARTITION_DAYS_AHEAD },
        (_, i) => partitionName(today - 3 * DAY + i * DAY),
      ),
    ].sort(),
  );

  // The dead letter is replayed and completes: both writes land on its one row, in its kept day.
  await write("dead", "accepted", old, 9);
  await write("dead", "completed", old, 9);
  assert.deepEqual((await placement(env.sql, ["dead"])).dead, [partitionName(today - 10 * DAY)]);
  const dead = (await readStatuses(env.sql, ["dead"])).get("dead")!;
  assert.deepEqual(dead.history.map((h) => h.status), ["dlq", "accepted", "completed"]);

  const again = await maintainStatusPartitions(env.sql, { retentionDays: 3 });
  assert.deepEqual(
    again!.kept,
    [{ partition: partitionName(today - 10 * DAY), rows: 1 }],
    "the retried one stays",
  );
  await write("retried", "completed", old + 60_000);
  const last = await maintainStatusPartitions(env.sql, { retentionDays: 3 });
  assert.deepEqual(last!.dropped, [partitionName(today - 10 * DAY)]);
  assert.deepEqual(last!.created, []);
  assert.deepEqual(await placement(env.sql, ["dead", "retried"]), {});
});

Deno.test("a round is skipped while another role holds the retention's lock", async () => {
  await using env = await createTestEnv();
  await env.migrate();
  const holder = await env.sql.reserve();
  try {
    await holder.unsafe("BEGIN");
    await holder.unsafe(`SELECT pg_advisory_xact_lock(${0x6e6f6d72})`);
    assert.equal(await maintainStatusPartitions(env.sql, { retentionDays: 3 }), undefined);
    await holder.unsafe("COMMIT");
    assert.ok((await maintainStatusPartitions(env.sql, { retentionDays: 3 }))!.created.length > 0);
  } finally {
    holder.release();
  }
});

Deno.test("a status table made before partitioning is converted at start with every row, then spread over its days", async () => {
  await using env = await createTestEnv();
  await env.sql.unsafe(`CREATE SCHEMA nomnom`);
  // The status table as versions before partitioning made it (without body_sha256, added later).
  await env.sql.unsafe(`CREATE TABLE nomnom.messages (
    message_id text PRIMARY KEY, entity text NOT NULL, status text NOT NULL, stream_seq bigint,
    received_at timestamptz, processed_at timestamptz, attempts integer NOT NULL DEFAULT 0, error text,
    next_attempt_at timestamptz, history jsonb NOT NULL DEFAULT '[]')`);
  await env.sql.unsafe(
    `CREATE INDEX messages_status_time ON nomnom.messages (status, processed_at, message_id)`,
  );
  await env.sql.unsafe(`INSERT INTO nomnom.messages (message_id, entity, status, received_at, processed_at)
    VALUES ('a', 'Order', 'completed', now(), now()), ('b', 'Order', 'dlq', NULL, now() - interval '1 day'),
           ('c', 'Order', 'completed', now() - interval '30 days', now() - interval '30 days')`);
  const { applied } = await migrate(env.sql, env.registry, silentLogger);
  assert.ok(
    applied.includes(
      "converted nomnom.messages (message status) to a table partitioned by day (its rows kept)",
    ),
    applied.join("\n"),
  );
  const [{ relkind }] = await env.sql`SELECT relkind FROM pg_class WHERE oid = 'nomnom.messages'::regclass`;
  assert.equal(relkind, "p");
  assert.deepEqual(
    (await migrate(env.sql, env.registry, silentLogger)).applied,
    [],
    "a second start changes nothing",
  );
  const statuses = await readStatuses(env.sql, ["a", "b", "c"]);
  assert.deepEqual([...statuses.keys()].sort(), ["a", "b", "c"]);
  assert.ok(statuses.get("b")!.received_at, "a row without received_at takes its processing time");

  const round = await maintainStatusPartitions(env.sql, { retentionDays: 3 });
  assert.equal(round!.cleaned, 1, "the finished row older than the retention goes");
  assert.deepEqual(await placement(env.sql, ["a", "b", "c"]), {
    a: [partitionName(today)],
    b: [partitionName(today - DAY)],
  });
  await upsertStatuses(env.sql, [{
    messageId: "new",
    entity: "Order",
    status: "completed",
    seq: 1,
    receivedAt: new Date(),
    attempts: 1,
  }]);
  assert.equal((await readStatuses(env.sql, ["new"])).get("new")!.status, "completed");
});
