/**
 * Entities that change under live tables (PostgreSQL and NATS): a start or `nomnom migrate` makes the safe changes
 * and names the others; a worker holds the messages of an entity whose table does not match (none lost,
 * dead-lettered or charged to its retry budget) while the others flow, and resumes by itself once the table
 * matches; `migrate --apply` makes the unsafe changes or refuses naming a row; tables made before nomnom are
 * adopted with their rows.
 */
import assert from "node:assert/strict";
import { run, type Running } from "../src/app.ts";
import { migrate, MigrationRefused } from "../src/db/migrate.ts";
import { countFailures } from "../src/db/status.ts";
import { silentLogger } from "../src/log.ts";
import { loadRegistry } from "../src/registry/load.ts";
import { createTestEnv, post, type TestEnv, TPCH, waitFor, waitForStatus } from "./harness.ts";
import { runNomnom } from "./child.ts";

/** An entity folder with a `Reading` (fields as given) and an `Other` entity that never changes. */
async function entities(readingFields: string, key = "[sensor]"): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "nomnom-schema-" });
  dirs.push(dir);
  await Deno.writeTextFile(
    `${dir}/reading.yaml`,
    `entity:\n  name: Reading\n  fields: ${readingFields}\n  persistence: { database: { unicity_fields: ${key} } }\n`,
  );
  await Deno.writeTextFile(
    `${dir}/other.yaml`,
    `entity:\n  name: Other\n  fields: [{ name: k }]\n  persistence: { database: { unicity_fields: [k] } }\n`,
  );
  return dir;
}

const V1 = `[{ name: sensor }, { name: value, type: Integer }, { name: note, nullable: true }]`;

/** Start `role` with the entities of `dir` (a changed entity set on the environment's database and NATS). */
async function startWith(
  env: TestEnv,
  dir: string,
  role: "all" | "worker" = "all",
): Promise<Running & { url: string }> {
  const r = await run(role, {
    config: { ...env.config, role, entitiesDir: dir },
    registry: await loadRegistry(dir),
    log: silentLogger,
    topology: undefined,
  });
  started.push(r);
  return { ...r, url: `http://127.0.0.1:${r.runtime.server?.port ?? 0}` };
}
const started: Running[] = [];
const dirs: string[] = [];
/** Stop the roles `startWith()` started and remove the entity folders (before the environment goes). */
async function stopAll() {
  for (const r of started.splice(0).reverse()) await r.stop();
  for (const dir of dirs.splice(0)) await Deno.remove(dir, { recursive: true });
}

async function ready(
  url: string,
): Promise<{ status: number; body: { checks: { name: string; ok: boolean; detail?: string }[] } }> {
  const response = await fetch(`${url}/ready`);
  return { status: response.status, body: await response.json() };
}

async function postAll(url: string, entity: string, bodies: unknown[]): Promise<string[]> {
  const ids: string[] = [];
  for (const body of bodies) {
    const { status, body: answer } = await post(`${url}/ingest/message/${entity}`, body);
    assert.equal(status, 202, JSON.stringify(answer));
    ids.push(answer.message_id as string);
  }
  return ids;
}

/** Resolves once every id is held: `retrying` with the waiting-for-the-table error, never dead-lettered. */
function allHeld(env: TestEnv, ids: string[]) {
  return waitFor(`${ids.length} message(s) held`, async () => {
    const rows = await env.sql`SELECT status, error FROM nomnom.messages WHERE message_id = ANY(${ids})`;
    return rows.length === ids.length &&
      rows.every((r) => r.status === "retrying" && /waiting for the table/.test(r.error));
  });
}

async function deadLetters(env: TestEnv): Promise<number> {
  const [{ n }] = await env.sql`SELECT count(*)::int AS n FROM nomnom.messages WHERE status = 'dlq'`;
  return n;
}

/** An environment whose roles compare their tables every second (held messages come back as often). */
async function schemaEnv(dir: string): Promise<TestEnv> {
  return await createTestEnv({ entities: dir, flags: ["--schema-check-ms=1000"] });
}

Deno.test("a type change is refused at start and held while running, then applied by migrate --apply", async () => {
  const v1 = await entities(V1);
  await using env = await schemaEnv(v1);
  try {
    await migrate(env.sql, env.registry, silentLogger);
    await env.sql`INSERT INTO readings (sensor, value, _message_id, _seq) VALUES ('s0', 7, 'old', 1)`;
    const v2 = await entities(`[{ name: sensor }, { name: value }, { name: note, nullable: true }]`);
    const app = await startWith(env, v2);

    const { status, body } = await ready(app.url);
    assert.equal(status, 503);
    const schema = body.checks.find((c) => c.name === "schema")!;
    assert.match(
      schema.detail!,
      /entity "Reading", table "readings", column "value": the table has integer NOT NULL, the entity declares text \(string\) NOT NULL\. Fix: ALTER TABLE "readings" ALTER COLUMN "value" TYPE text USING "value"::text;/,
    );
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    assert.match(metrics, /nomnom_schema_mismatch\{entity="Reading"[^}]*\} 1/);
    assert.match(metrics, /nomnom_schema_mismatch\{entity="Other"[^}]*\} 0/);
    const stats = await (await fetch(`${app.url}/stats`)).json();
    assert.deepEqual(stats.schema_mismatches.map((m: { entity: string }) => m.entity), ["Reading"]);

    const readings = await postAll(app.url, "Reading", [{ sensor: "s1", value: "high" }, {
      sensor: "s2",
      value: "7",
    }]);
    const others = await postAll(app.url, "Other", [{ k: "a" }, { k: "b" }]);
    await waitForStatus(env.sql, others, "completed");
    await allHeld(env, readings);

    const { applied } = await migrate(env.sql, await loadRegistry(v2), silentLogger, "all");
    assert.deepEqual(applied, [`changed readings.value: integer NOT NULL → text (string) NOT NULL`]);
    await waitForStatus(env.sql, readings, "completed");
    assert.equal((await ready(app.url)).status, 200, "ready once the table matches");
    assert.equal(await deadLetters(env), 0);
    const failures = await countFailures(env.sql as never, readings);
    assert.deepEqual([...failures.values()], [0, 0], "held deliveries are not failures");
    const rows = await env.sql`SELECT sensor, value FROM readings ORDER BY sensor`;
    assert.deepEqual(rows.map((r) => [r.sensor, r.value]), [["s0", "7"], ["s1", "high"], ["s2", "7"]]);
  } finally {
    await stopAll();
  }
});

Deno.test("migrate --apply refuses a type change that a row would not survive, naming it, and changes nothing", async () => {
  const v1 = await entities(`[{ name: sensor }, { name: value }, { name: note, nullable: true }]`);
  await using env = await schemaEnv(v1);
  try {
    await migrate(env.sql, env.registry, silentLogger);
    await env
      .sql`INSERT INTO readings (sensor, value, _message_id, _seq) VALUES ('s1', '12', 'a', 1), ('s2', 'twelve', 'b', 2)`;
    const v2 = await loadRegistry(await entities(V1));
    const error = await migrate(env.sql, v2, silentLogger, "all").then(() => undefined, (e) => e);
    assert.ok(error instanceof MigrationRefused, String(error));
    assert.match(
      error.message,
      /Cannot change "readings"\."value" \(entity "Reading"\) from text to integer: the row at ctid \(0,2\) \(sensor = 's2'\) with value = 'twelve' does not convert \(\[22P02\]/,
    );
    const [{ type }] = await env.sql`SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute
      WHERE attrelid = 'readings'::regclass AND attname = 'value'`;
    assert.equal(type, "text", "one transaction: nothing was changed");
  } finally {
    await stopAll();
  }
});

Deno.test("a renamed field: the new column is added, the old NOT NULL one is named, and --apply lets writes through", async () => {
  await using env = await schemaEnv(await entities(V1));
  try {
    await migrate(env.sql, env.registry, silentLogger);
    const v2 = await entities(
      `[{ name: sensor }, { name: amount, type: Integer }, { name: note, nullable: true }]`,
    );
    const app = await startWith(env, v2);
    const detail = (await ready(app.url)).body.checks.find((c) => c.name === "schema")!.detail!;
    assert.match(
      detail,
      /column "value": the table has integer NOT NULL without default, the entity declares no field "value" \(if it was renamed to "amount", copy it first: UPDATE "readings" SET "amount" = "value"\)\. Fix: ALTER TABLE "readings" ALTER COLUMN "value" DROP NOT NULL;/,
    );
    const ids = await postAll(app.url, "Reading", [{ sensor: "s1", amount: 3 }]);
    await allHeld(env, ids);
    await migrate(env.sql, await loadRegistry(v2), silentLogger, "all");
    await waitForStatus(env.sql, ids, "completed");
    const [row] = await env.sql`SELECT amount, value FROM readings`;
    assert.deepEqual([row.amount, row.value], [3, null]);
    assert.equal(await deadLetters(env), 0);
  } finally {
    await stopAll();
  }
});

Deno.test("a key change is refused until --apply, which moves the key, or refuses naming rows that repeat it", async () => {
  await using env = await schemaEnv(await entities(V1, "[sensor, value]"));
  try {
    await migrate(env.sql, env.registry, silentLogger);
    await env
      .sql`INSERT INTO readings (sensor, value, _message_id, _seq) VALUES ('s1', 1, 'a', 1), ('s1', 2, 'b', 2)`;
    const narrower = await loadRegistry(await entities(V1));
    const { problems } = await migrate(env.sql, narrower, silentLogger);
    assert.deepEqual(problems.map((p) => [p.kind, p.has, p.declares]), [
      ["change_key", "unique key (sensor, value)", "unique key (sensor)"],
    ]);
    await assert.rejects(
      migrate(env.sql, narrower, silentLogger, "all"),
      /Cannot add unique key \(sensor\) to "readings" \(entity "Reading"\): \(sensor\) = \('s1'\) appears 2 times/,
    );
    await env.sql`DELETE FROM readings WHERE value = 2`;
    assert.deepEqual((await migrate(env.sql, narrower, silentLogger, "all")).applied, [
      "changed readings: unique key (sensor, value) → unique key (sensor)",
    ]);
    assert.deepEqual(await migrate(env.sql, narrower, silentLogger), { applied: [], problems: [] });
  } finally {
    await stopAll();
  }
});

Deno.test("a NOT NULL column added by hand under a running worker holds that entity only, until it is fixed", async () => {
  await using env = await schemaEnv(await entities(V1));
  try {
    const app = await env.start("all");
    await waitForStatus(
      env.sql,
      await postAll(app.url, "Reading", [{ sensor: "s1", value: 1 }]),
      "completed",
    );
    await env.sql.unsafe(`ALTER TABLE readings ADD COLUMN site text NOT NULL DEFAULT 'x'`);
    await env.sql.unsafe(`ALTER TABLE readings ALTER COLUMN site DROP DEFAULT`);
    const readings = await postAll(app.url, "Reading", [{ sensor: "s2", value: 2 }, {
      sensor: "s3",
      value: 3,
    }]);
    const others = await postAll(app.url, "Other", [{ k: "a" }]);
    await waitForStatus(env.sql, others, "completed");
    await allHeld(env, readings);
    // The write error holds the entity at once; the comparison it triggers then names the column's cause.
    const detail = await waitFor("/ready naming the column and its cause", async () => {
      const r = await ready(app.url);
      const schema = r.body.checks.find((c) => c.name === "schema")?.detail;
      return r.status === 503 && schema?.includes("the table has text NOT NULL without default")
        ? schema
        : undefined;
    });
    assert.match(detail!, /column "site"/);
    assert.equal(await deadLetters(env), 0);
    await env.sql.unsafe(`ALTER TABLE readings ALTER COLUMN site DROP NOT NULL`);
    await waitForStatus(env.sql, readings, "completed");
    await waitFor("ready again", async () => (await ready(app.url)).status === 200);
    assert.equal(await deadLetters(env), 0);
  } finally {
    await stopAll();
  }
});

Deno.test("a column dropped by hand under a running worker: its messages wait, the column comes back, nothing is lost", async () => {
  await using env = await schemaEnv(await entities(V1));
  try {
    const app = await env.start("all");
    await waitForStatus(
      env.sql,
      await postAll(app.url, "Reading", [{ sensor: "s1", value: 1, note: "n" }]),
      "completed",
    );
    await env.sql.unsafe(`ALTER TABLE readings DROP COLUMN note`);
    const ids = await postAll(app.url, "Reading", [{ sensor: "s2", value: 2, note: "kept" }]);
    await waitForStatus(env.sql, ids, "completed");
    const [row] = await env.sql`SELECT note FROM readings WHERE sensor = 's2'`;
    assert.equal(row.note, "kept");
    assert.equal(await deadLetters(env), 0);
    const [{ history }] = await env.sql`SELECT history FROM nomnom.messages WHERE message_id = ${ids[0]}`;
    assert.ok(
      history.some((h: { held?: boolean }) => h.held),
      `held (not retried) while the column was missing: ${JSON.stringify(history)}`,
    );
    assert.deepEqual([...(await countFailures(env.sql as never, ids)).values()], [0]);
  } finally {
    await stopAll();
  }
});

Deno.test("two workers starting together on a changed entity set both migrate it once and become ready", async () => {
  await using env = await schemaEnv(await entities(V1));
  try {
    await migrate(env.sql, env.registry, silentLogger);
    await env.sql`INSERT INTO readings (sensor, value, _message_id, _seq) VALUES ('s0', 7, 'old', 1)`;
    const v2 = await entities(
      `[{ name: sensor }, { name: value, type: BigInt }, { name: note, nullable: true }, { name: unit, nullable: true }]`,
    );
    const [a, b] = await Promise.all([startWith(env, v2, "worker"), startWith(env, v2, "worker")]);
    for (const w of [a, b]) {
      const port = w.runtime.opsServer!.port;
      assert.equal((await ready(`http://127.0.0.1:${port}`)).status, 200);
    }
    const columns = await env.sql`SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute
      WHERE attrelid = 'readings'::regclass AND attname IN ('value', 'unit') ORDER BY attname`;
    assert.deepEqual(columns.map((c) => [c.attname, c.type]), [["unit", "text"], ["value", "bigint"]]);
    const api = await startWith(env, v2, "all");
    const ids = await postAll(api.url, "Reading", [{ sensor: "s1", value: 2 ** 40, unit: "mV" }]);
    await waitForStatus(env.sql, ids, "completed");
  } finally {
    await stopAll();
  }
});

Deno.test("a table made before nomnom (the original nomnom's DDL, with rows) is adopted: the first newer message replaces the order and its line items", async () => {
  await using env = await schemaEnv(TPCH + "entities");
  try {
    // The tables of the original nomnom's TPC-H example (its Diesel schema): no _seq, REAL prices, SERIAL ids.
    await env.sql.unsafe(`
      CREATE TABLE orders (id SERIAL PRIMARY KEY, order_key TEXT NOT NULL, customer_key TEXT NOT NULL,
        order_status TEXT NOT NULL, total_price REAL NOT NULL, order_date TEXT NOT NULL, order_priority TEXT,
        clerk TEXT, ship_priority INTEGER, comment TEXT);
      CREATE TABLE order_line_items (id SERIAL PRIMARY KEY, order_key TEXT NOT NULL, line_number INTEGER NOT NULL,
        part_key TEXT NOT NULL, supplier_key TEXT, quantity INTEGER NOT NULL, extended_price REAL NOT NULL,
        discount REAL, tax REAL, return_flag TEXT, line_status TEXT, ship_date TEXT, commit_date TEXT,
        receipt_date TEXT);
      INSERT INTO orders (order_key, customer_key, order_status, total_price, order_date, comment)
        VALUES ('O12345', 'C1001', 'O', 10.5, '2025-01-01', 'before nomnom'), ('O1', 'C1', 'O', 1, '2025-01-01', 'kept');
      INSERT INTO order_line_items (order_key, line_number, part_key, quantity, extended_price)
        VALUES ('O12345', 1, 'P1', 1, 1.5), ('O12345', 2, 'P2', 2, 2.5), ('O12345', 3, 'P3', 3, 3.5),
               ('O1', 1, 'P1', 1, 1);`);
    const app = await env.start("all");
    assert.equal((await ready(app.url)).status, 200, JSON.stringify((await ready(app.url)).body));
    const order = JSON.parse(await Deno.readTextFile(TPCH + "example_order.json"));
    const ids = await postAll(app.url, "Order", [{ ...order, comment: "from nomnom" }]);
    await waitForStatus(env.sql, ids, "completed");
    const orders = await env
      .sql`SELECT order_key, comment, total_price, _seq IS NOT NULL AS seq FROM orders ORDER BY order_key`;
    assert.deepEqual(orders.map((o) => [o.order_key, o.comment, o.seq]), [
      ["O1", "kept", false],
      ["O12345", "from nomnom", true],
    ]);
    assert.equal(orders[1].total_price, 1234.56, "REAL widened to double precision: the price is exact");
    const items = await env
      .sql`SELECT order_key, line_number, part_key FROM order_line_items ORDER BY order_key, line_number`;
    assert.deepEqual(items.map((i) => [i.order_key, i.line_number, i.part_key]), [
      ["O1", 1, "P1"],
      ["O12345", 1, "P5001"],
      ["O12345", 2, "P5002"],
    ], "the old order's three line items are replaced by the message's two; another order's are kept");
  } finally {
    await stopAll();
  }
});

Deno.test("nomnom migrate names what it will not change (exit 1), --plan prints the DDL, --apply runs it", async () => {
  await using env = await schemaEnv(await entities(V1));
  try {
    await migrate(env.sql, env.registry, silentLogger);
    const v2 = await entities(`[{ name: sensor }, { name: value, type: BigInt }, { name: unit }]`);
    const flags = [`--entities=${v2}`, `--database-url=${env.config.databaseUrl}`, "--log-level=error"];
    const plan = await runNomnom(["migrate", "--plan", ...flags]);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(
      plan.stdout,
      /-- safe: widen_type readings\.value \(Reading\).*\nALTER TABLE "readings" ALTER COLUMN "value" TYPE bigint;/,
    );
    assert.match(plan.stdout, /-- safe: add_column readings\.unit \(Reading\)/);
    const [{ n: before }] = await env.sql`SELECT count(*)::int AS n FROM pg_attribute
      WHERE attrelid = 'readings'::regclass AND attname = 'unit'`;
    assert.equal(before, 0, "--plan changes nothing");

    // The dropped field `note` stays: it is nullable, so inserts still work; nomnom never drops a column.
    const safe = await runNomnom(["migrate", ...flags]);
    assert.equal(safe.code, 0, safe.stdout + safe.stderr);
    assert.match(safe.stdout, /widened column readings\.value from integer NOT NULL to bigint/);
    assert.match(safe.stdout, /added column readings\.unit/);

    const v3 = await entities(`[{ name: sensor }, { name: value }, { name: unit }]`);
    const flags3 = [`--entities=${v3}`, `--database-url=${env.config.databaseUrl}`, "--log-level=error"];
    const refused = await runNomnom(["migrate", ...flags3]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stdout,
      /1 difference\(s\) nomnom does not change by itself:\n {2}entity "Reading", table "readings", column "value": the table has bigint NOT NULL, the entity declares text/,
    );
    const applied = await runNomnom(["migrate", "--apply", ...flags3]);
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    assert.equal((await runNomnom(["migrate", ...flags3])).stdout.trim(), "schema is up to date");
  } finally {
    await stopAll();
  }
});
