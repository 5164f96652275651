/**
 * Logs and configuration errors as an operator sees them from the real process: the format they asked for, and
 * never a password.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import process from "node:process";
import { createTestEnv, waitFor } from "./harness.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

function nomnom(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ["run", "-A", MAIN, ...args],
      { env: { ...process.env, ...env } },
      (error, _, stderr) => {
        resolve({ code: error ? (error as { code?: number }).code ?? 1 : 0, stderr });
      },
    );
  });
}

Deno.test("an invalid NATS or PostgreSQL URL exits 2 with one line that does not show the password", async () => {
  for (
    const [args, env] of [
      [["--role=api", "--nats-url=nats://u:hunter2@[oops", "--database-url=postgres://x/y"], {}],
      [["--role=api", "--nats-url=nats://h:4222"], { DATABASE_URL: "postgres://u:hunter2@[oops/db" }],
    ] as const
  ) {
    const r = await nomnom([...args], env);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /^nomnom: Invalid (--nats-url|DATABASE_URL \(env\)): must be/);
    assert.doesNotMatch(r.stderr, /hunter2/);
  }
});

Deno.test("a NATS URL list that cannot be reached fails with its passwords redacted", async () => {
  const r = await nomnom([
    "--role=api",
    "--nats-url=nats://u:hunter2@127.0.0.1:1,nats://v:hunter3@127.0.0.1:2",
    "--database-url=postgres://postgres:hunter4@127.0.0.1:5432/postgres?password=hunter5",
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /u:\*\*\*@127\.0\.0\.1:1,nats:\/\/v:\*\*\*@127\.0\.0\.1:2/);
  assert.doesNotMatch(r.stderr, /hunter/);
});

Deno.test("LOG_FORMAT=pretty writes readable lines and LOG_FORMAT=json JSON lines, passwords redacted in both", async () => {
  const env = await createTestEnv();
  try {
    const url = new URL(env.config.databaseUrl!);
    url.password = "hunter6"; // trust authentication ignores it
    for (const format of ["pretty", "json"]) {
      const child = spawn(process.execPath, [
        "run",
        "-A",
        MAIN,
        "--role=api",
        `--namespace=${env.namespace}`,
        `--entities=${env.config.entitiesDir}`,
        `--nats-url=${env.config.natsUrl}`,
        `--database-url=${url}`,
        "--host=127.0.0.1",
        "--port=0",
        "--log-level=debug",
      ], { env: { ...process.env, LOG_FORMAT: format }, stdio: ["ignore", "ignore", "pipe"] });
      let logs = "";
      child.stderr!.on("data", (chunk) => logs += chunk);
      const exited = new Promise((resolve) => child.once("exit", resolve));
      await waitFor("the api to listen", () => /api listening/.test(logs))
        .catch((error) => Promise.reject(new Error(`${error.message}; logs: ${logs}`)));
      process.kill(child.pid!, "SIGTERM");
      await exited;
      const listening = logs.split("\n").find((l) => /api listening/.test(l))!;
      if (format === "json") assert.equal(JSON.parse(listening).role, "api");
      else assert.match(listening, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}api listening role=api url=http:/);
      assert.match(logs, /postgres:\/\/postgres:\*\*\*@/, "the database URL is logged, redacted");
      assert.doesNotMatch(logs, /hunter6/);
    }
  } finally {
    await env.close();
  }
});
