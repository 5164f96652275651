/**
 * The pool nomnom opens: sessions in UTC, whatever the database's default, so that a date-time without an offset
 * means the same instant on every server (and the worker's in-batch key comparison agrees with PostgreSQL's).
 */
import assert from "node:assert/strict";
import { connectDatabase } from "../src/db/connect.ts";
import { silentLogger } from "../src/log.ts";
import { createTestEnv } from "./harness.ts";

Deno.test("a date-time without an offset is stored as UTC even when the database's time zone is not", async () => {
  await using env = await createTestEnv();
  const [{ db }] = await env.sql`SELECT current_database() AS db`;
  await env.sql.unsafe(`ALTER DATABASE "${db}" SET timezone = 'America/New_York'`);
  const sql = await connectDatabase(env.config.databaseUrl!, 1, silentLogger);
  try {
    const [row] = await sql`SELECT current_setting('TimeZone') AS tz,
        '2025-01-01T10:00:00'::timestamptz = '2025-01-01T10:00:00Z'::timestamptz AS same`;
    assert.equal(row.tz, "UTC");
    assert.equal(row.same, true);
  } finally {
    await sql.end();
  }
});
