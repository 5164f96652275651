/**
 * The harness itself: what the other tests lean on must hold, or their failures would mislead. Private servers
 * start, stop and vanish on dispose; waits say what they waited for; a child's output reaches the error.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import process from "node:process";
import postgres from "postgres";
import { upsertStatuses } from "../src/db/status.ts";
import { spawnChild } from "./child.ts";
import { createTestEnv, waitForStatus } from "./harness.ts";
import { startPrivatePostgres } from "./private_postgres.ts";
import { startPrivateNats } from "./private_nats.ts";

Deno.test("a private PostgreSQL serves a test environment, stops and resumes with its data, and is removed on dispose", async () => {
  let dataDir: string;
  {
    await using pg = await startPrivatePostgres();
    dataDir = pg.dataDir;
    await using env = await createTestEnv({ postgres: pg });
    await env.sql`CREATE TABLE kept (n int)`;
    await env.sql`INSERT INTO kept VALUES (1)`;
    await pg.pause();
    await assert.rejects(env.sql`SELECT 1`);
    await pg.resume();
    const [{ n }] = await env.sql`SELECT n FROM kept`;
    assert.equal(n, 1);
    const direct = postgres(pg.url, { max: 1, onnotice: () => {} });
    const [{ port }] = await direct`SELECT current_setting('port') AS port`;
    await direct.end();
    assert.equal(Number(port), pg.port, "its own port, not the shared server's");
  }
  assert.ok(!existsSync(dataDir), "its directory is gone");
});

Deno.test("a private nats-server pauses and resumes on its port, and its store is removed on dispose", async () => {
  let store: string;
  {
    await using nats = await startPrivateNats();
    await using env = await createTestEnv({ nats });
    const nc = await env.connectNats();
    assert.equal(nc.getServer(), new URL(nats.url).host);
    store = nats.child().name.split("-c ")[1].replace(/\/nats\.conf$/, "");
    await nats.pause();
    await nats.resume();
  }
  assert.ok(!existsSync(store), "its store is gone");
});

Deno.test("waitForStatus() names the message and the last status it saw when it gives up", async () => {
  await using env = await createTestEnv();
  await env.migrate();
  await upsertStatuses(env.sql, [
    {
      messageId: "m-1",
      entity: "Order",
      status: "retrying",
      receivedAt: new Date(),
      attempts: 3,
      error: "connection refused",
    },
  ]);
  await assert.rejects(
    waitForStatus(env.sql, "m-1", "completed", { timeoutMs: 200 }),
    /message m-1 to be completed: last status seen: retrying \(attempts 3, error: connection refused\)/,
  );
  await assert.rejects(
    waitForStatus(env.sql, ["m-1", "m-2"], ["completed", "dlq"], { timeoutMs: 200 }),
    /message m-1 to be completed or dlq: last status seen: retrying .*\(and 1 more of 2 not yet\)/,
  );
});

Deno.test("a child that exits before its log line fails the wait at once, quoting what it wrote", async () => {
  await using child = spawnChild(process.execPath, [
    "eval",
    "console.log('out'); console.error('the reason'); Deno.exit(3)",
  ]);
  await assert.rejects(
    child.waitForLog(/never/, { timeoutMs: 60_000 }),
    /Exited 3 before writing \/never\/ to stderr: .*\n--- stdout ---\nout\n\n--- stderr ---\nthe reason/,
  );
});
