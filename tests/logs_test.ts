/**
 * Logs and configuration errors as an operator sees them from the real process: the format they asked for, and
 * never a password.
 */
import assert from "node:assert/strict";
import { apiUrl, runNomnom, startNomnom } from "./child.ts";
import { createTestEnv } from "./harness.ts";

Deno.test("an invalid NATS or PostgreSQL URL exits 2 with one line that does not show the password", async () => {
  for (
    const [args, env] of [
      [["--role=api", "--nats-url=nats://u:hunter2@[oops", "--database-url=postgres://x/y"], {}],
      [["--role=api", "--nats-url=nats://h:4222"], { DATABASE_URL: "postgres://u:hunter2@[oops/db" }],
    ] as const
  ) {
    const r = await runNomnom([...args], { env });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /^nomnom: Invalid (--nats-url|DATABASE_URL \(env\)): must be/);
    assert.doesNotMatch(r.stderr, /hunter2/);
  }
});

Deno.test("a NATS URL list that cannot be reached fails with its passwords redacted", async () => {
  const r = await runNomnom([
    "--role=api",
    // One connection has one set of credentials: a list repeats them (different ones are a config error).
    "--nats-url=nats://u:hunter2@127.0.0.1:1,nats://u:hunter2@127.0.0.1:2",
    "--database-url=postgres://postgres:hunter4@127.0.0.1:5432/postgres?password=hunter5",
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /u:\*\*\*@127\.0\.0\.1:1,nats:\/\/u:\*\*\*@127\.0\.0\.1:2/);
  assert.doesNotMatch(r.stderr, /hunter/);
});

Deno.test("LOG_FORMAT=pretty writes readable lines and LOG_FORMAT=json JSON lines, passwords redacted in both", async () => {
  await using env = await createTestEnv();
  const url = new URL(env.config.databaseUrl!);
  url.password = "hunter6"; // trust authentication ignores it
  for (const format of ["pretty", "json"]) {
    await using child = startNomnom([
      "--role=api",
      `--namespace=${env.namespace}`,
      `--entities=${env.config.entitiesDir}`,
      `--nats-url=${env.config.natsUrl}`,
      `--database-url=${url}`,
      "--host=127.0.0.1",
      "--port=0",
      "--log-level=debug",
      "--shutdown-drain-ms=0", // no load balancer to wait for
    ], { env: { LOG_FORMAT: format } });
    await apiUrl(child);
    await child.stop();
    const logs = child.stderr();
    const listening = logs.split("\n").find((l) => /api listening/.test(l))!;
    if (format === "json") assert.equal(JSON.parse(listening).role, "api");
    else assert.match(listening, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}api listening role=api url=http:/);
    assert.match(logs, /postgres:\/\/postgres:\*\*\*@/, "the database URL is logged, redacted");
    assert.doesNotMatch(logs, /hunter6/);
  }
});
