/**
 * The compiled Bun binary while its PostgreSQL misbehaves under load: every nomnom session terminated, again and
 * again, then the server crashing (`pg_ctl stop -m immediate`) and coming back. The api and worker processes
 * must survive it all (postgres.js's write on a closed socket used to throw an uncaught TypeError that killed
 * them) and every accepted order must complete. Its logs must name errors by their class, not by minified
 * identifiers, and report an outage once, not once per refused request.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { buildBunBinary } from "./bun_build.ts";
import { apiUrl, type Child, runChild } from "./child.ts";
import { createTempDir, createTestEnv, post, TPCH, waitFor, waitForStatus } from "./harness.ts";
import { startPrivatePostgres } from "./private_postgres.ts";

const exampleOrder = JSON.parse(await readFile(TPCH + "example_order.json", "utf8"));
const ROUNDS_OF_TERMINATION = 5;
const CRASHES = 2;

Deno.test("the Bun binary survives PostgreSQL terminating its sessions and crashing under load, and recovers", async () => {
  await using temp = await createTempDir("nomnom-binary-faults-");
  const binary = join(temp.path, "nomnom");
  await buildBunBinary(binary);
  await using pg = await startPrivatePostgres();
  await using env = await createTestEnv({
    postgres: { url: pg.url },
    flags: ["--retry-base-ms=50", "--retry-max-ms=500"],
  });
  const psql = async (query: string) => {
    const r = await runChild("psql", [
      "-h",
      "127.0.0.1",
      "-p",
      String(pg.port),
      "-U",
      "postgres",
      "-Atc",
      query,
    ]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  const worker = env.spawn("worker", ["--batch-size=20"], { binary, cwd: temp.path });
  const api = env.spawn("api", [], { binary, cwd: temp.path });
  const url = await apiUrl(api);
  await worker.waitForLog(/"worker started"/);
  const exits = new Map<Child, unknown>();
  for (const child of [worker, api]) child.exited.then((code) => exits.set(child, code));
  const alive = () => {
    for (const [child, code] of exits) assert.fail(`${child.name} exited (${code}):\n${child.output()}`);
  };
  /** Wait for `check`, but fail at once, with its output, if a process dies meanwhile. */
  const until = async (what: string, check: () => Promise<boolean>) => {
    await waitFor(what, async () => exits.size > 0 || await check(), 30_000);
    alive();
  };

  const accepted: string[] = [];
  /** `n` status requests at once (each needs PostgreSQL), answered whatever they answer. */
  const statusRequests = async (n: number) => {
    const refused = await Promise.all(
      Array.from(
        { length: n },
        () =>
          fetch(`${url}/ingest/status/${crypto.randomUUID()}`).then(
            (r) => r.body?.cancel(),
            (error) => error,
          ),
      ),
    );
    if (refused.some((r) => r instanceof Error)) {
      // The API no longer listens: report it with its output (it is exiting, or has exited).
      await Promise.race([api.exited, new Promise((r) => setTimeout(r, 2_000))]);
      alive();
      assert.fail(`the API refused a connection but is still running:\n${api.output()}`);
    }
  };
  let loading = true;
  const load = async (client: number) => {
    for (let i = 0; loading; i++) {
      const r = await post(`${url}/ingest/message/Order`, { ...exampleOrder, order_key: `B${client}-${i}` })
        .catch(() => undefined);
      if (r?.status === 202) accepted.push(r.body.message_id as string);
    }
  };
  const sessions = () => psql(`SELECT count(*) FROM pg_stat_activity WHERE application_name = 'nomnom'`);
  // A refused connection is a PostgresError (55000) in the logs, named as such, and an outage is one line.
  // Once the cut sessions are gone, a request's new connection is refused by the server itself.
  await env.cutDatabase();
  await until("the cut sessions to end", async () => Number(await sessions()) === 0);
  await statusRequests(5);
  await env.restoreDatabase();

  const clients = Array.from({ length: 6 }, (_, c) => load(c));
  const progress = async () => {
    const [{ n }] = await env.sql`SELECT count(*)::int AS n FROM nomnom.messages WHERE status = 'completed'`;
    return n as number;
  };
  try {
    for (let round = 0; round < ROUNDS_OF_TERMINATION; round++) {
      await until("nomnom sessions", async () => Number(await sessions()) > 0);
      const before = await progress();
      await psql(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'nomnom'`,
      );
      await until("the worker to write again", async () => await progress() > before);
    }
    for (let crash = 0; crash < CRASHES; crash++) {
      await until("nomnom sessions", async () => Number(await sessions()) > 0);
      await pg.pause("immediate");
      // Status requests meanwhile are refused (503), and logged once for the outage.
      await statusRequests(5);
      await pg.resume();
      const before = await progress();
      await until("the worker to write again", async () => await progress() > before);
    }
  } finally {
    loading = false;
    await Promise.all(clients);
  }
  alive();
  assert.ok(accepted.length > 0);
  await waitForStatus(env.sql, accepted, "completed", { timeoutMs: 60_000 });
  const [{ orders }] = await env.sql`SELECT count(*)::int AS orders FROM orders`;
  assert.equal(orders, accepted.length, "every accepted order stored once");

  const logs = api.stderr();
  assert.match(logs, /"name":"PostgresError"/);
  const names = [...logs.matchAll(/"name":"([^"]*)"/g)].map((m) => m[1]);
  assert.deepEqual(names.filter((n) => n.length < 4), [], "no minified class names in the logs");
  const refusals = logs.split("\n").filter((l) => /PostgreSQL unavailable: answering 503/.test(l)).length;
  assert.ok(refusals >= 1 && refusals <= CRASHES + 1, `one warning per outage, not per request:\n${logs}`);
  assert.doesNotMatch(logs, /"level":"error".*"status":503/);
  alive();
});
