/**
 * The migration against a live PostgreSQL: every stored entity — root, reference and derived — gets its table
 * and a UNIQUE index on exactly the columns its upsert names in ON CONFLICT.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { migrate } from "../src/db/migrate.ts";
import { describeProblem } from "../src/db/schema_diff.ts";
import { createEntityStatements, STATUS_TABLE } from "../src/db/statements.ts";
import { silentLogger } from "../src/log.ts";
import { loadRegistry } from "../src/registry/load.ts";
import { createTestEnv, TPCH } from "./harness.ts";

const ENTITIES = [TPCH + "entities", new URL("../entities", import.meta.url).pathname];

for (const dir of ENTITIES) {
  Deno.test(`every stored entity of ${dir.split("/").slice(-2).join("/")} has a unique index matching its upsert`, async () => {
    await using env = await createTestEnv({ entities: dir });
    const registry = await loadRegistry(dir);
    await migrate(env.sql, registry, silentLogger);
    assert.deepEqual(
      await migrate(env.sql, registry, silentLogger),
      { applied: [], problems: [] },
      "a second run changes nothing",
    );
    assert.ok(registry.stored.some((e) => e.kind === "derived"), "derived entities are stored too");
    for (const entity of registry.stored) {
      const conflict = createEntityStatements(entity).upsert.match(/ON CONFLICT \(([^)]*)\)/)![1]
        .split(", ").map((c) => c.replaceAll('"', "")).sort();
      const indexes = await env.sql`
          SELECT array_agg(a.attname::text ORDER BY a.attname) AS columns
          FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
          WHERE i.indrelid = ${entity.storage!.table}::regclass AND i.indisunique
          GROUP BY i.indexrelid`;
      assert.ok(
        indexes.some((ix) => JSON.stringify(ix.columns) === JSON.stringify(conflict)),
        `${entity.storage!.table} has a unique index on (${conflict})`,
      );
    }
  });
}

Deno.test("migrate() upgrades an existing table: a new field becomes a column, a lost key constraint returns", async () => {
  await using env = await createTestEnv();
  const registry = await loadRegistry(TPCH + "entities");
  await migrate(env.sql, registry, silentLogger);
  await env.sql`ALTER TABLE products DROP CONSTRAINT products_nomnom_key`;
  await env.sql`ALTER TABLE products DROP COLUMN comment`;
  const { applied } = await migrate(env.sql, registry, silentLogger);
  assert.deepEqual(applied.sort(), [
    "added column products.comment",
    "added unique key (part_key) to products",
  ]);
});

Deno.test("migrate() run by several workers at once does not race", async () => {
  await using env = await createTestEnv();
  const registry = await loadRegistry(TPCH + "entities");
  const results = await Promise.all([1, 2, 3].map(() => migrate(env.sql, registry, silentLogger)));
  assert.equal(
    results.flatMap((r) => r.applied).filter((c) => c.startsWith("created table orders")).length,
    1,
  );
});

Deno.test("migrate() on an up-to-date schema takes no table lock, so it never waits on (or deadlocks with) running writers", async () => {
  await using env = await createTestEnv();
  const registry = await loadRegistry(TPCH + "entities");
  await migrate(env.sql, registry, silentLogger);
  // A worker mid-transaction: ROW EXCLUSIVE on every table it writes, held until it commits.
  const writer = await env.sql.reserve();
  const tables = [
    ...registry.stored.map((e) => `"${e.storage!.table}"`),
    `${STATUS_TABLE.schema}.${STATUS_TABLE.name}`,
  ];
  await writer.unsafe("BEGIN");
  await writer.unsafe(`LOCK TABLE ${tables.join(", ")} IN ROW EXCLUSIVE MODE`);
  try {
    // Any DDL on those tables (ADD COLUMN IF NOT EXISTS, CREATE INDEX IF NOT EXISTS) would wait for the writer:
    // lock_timeout turns that wait into an error instead of a hung test.
    const starting = postgres(env.config.databaseUrl!, {
      max: 1,
      onnotice: () => {},
      connection: { lock_timeout: 2000 },
    });
    try {
      assert.deepEqual((await migrate(starting, registry, silentLogger)).applied, []);
    } finally {
      await starting.end();
    }
  } finally {
    await writer.unsafe("ROLLBACK");
    writer.release();
  }
});

Deno.test("migrate() adds the key constraint when the only unique index on the key is partial", async () => {
  await using env = await createTestEnv();
  const registry = await loadRegistry(TPCH + "entities");
  await migrate(env.sql, registry, silentLogger);
  // A partial index only serves an ON CONFLICT that repeats its WHERE: the upsert would fail with 42P10.
  await env.sql`ALTER TABLE products DROP CONSTRAINT products_nomnom_key`;
  await env.sql`CREATE UNIQUE INDEX products_partial ON products (part_key) WHERE part_key <> ''`;
  assert.deepEqual((await migrate(env.sql, registry, silentLogger)).applied, [
    "added unique key (part_key) to products",
  ]);
  const { upsert, params } = createEntityStatements(registry.entities.get("Product")!);
  const row = params.map((p) => [p === "_message_id" ? "m" : "1"]);
  assert.equal((await env.sql.unsafe(upsert, row)).length, 1);
  assert.deepEqual((await migrate(env.sql, registry, silentLogger)).applied, []);
});

Deno.test("migrate() adds the key constraint when the unique indexes on the key have INCLUDE columns or expressions", async () => {
  await using env = await createTestEnv();
  const registry = await loadRegistry(TPCH + "entities");
  await migrate(env.sql, registry, silentLogger);
  // Neither can be an ON CONFLICT (part_key) arbiter, though pg_index.indkey makes both look like one: an
  // INCLUDE column is in indkey, an expression is a 0 there.
  await env.sql`ALTER TABLE products DROP CONSTRAINT products_nomnom_key`;
  await env.sql`CREATE UNIQUE INDEX products_including ON products (part_key) INCLUDE (_seq)`;
  await env.sql`ALTER TABLE customers DROP CONSTRAINT customers_nomnom_key`;
  await env.sql`CREATE UNIQUE INDEX customers_expression ON customers (customer_key, lower(customer_key))`;
  assert.deepEqual((await migrate(env.sql, registry, silentLogger)).applied.sort(), [
    "added unique key (customer_key) to customers",
    "added unique key (part_key) to products",
  ]);
});

Deno.test("migrate() reports, naming it, a deferrable unique constraint on the key (ON CONFLICT rejects those)", async () => {
  await using env = await createTestEnv();
  const registry = await loadRegistry(TPCH + "entities");
  await migrate(env.sql, registry, silentLogger);
  await env.sql`ALTER TABLE customers ADD CONSTRAINT customers_deferred UNIQUE (customer_key) DEFERRABLE`;
  const { problems } = await migrate(env.sql, registry, silentLogger);
  assert.deepEqual(problems.map(describeProblem), [
    `entity "Customer", table "customers": the table has deferrable unique index customers_deferred on ` +
    `(customer_key); ON CONFLICT cannot work with that, the entity declares unique key (customer_key). Fix: ` +
    `ALTER TABLE "customers" DROP CONSTRAINT "customers_deferred"; (or run \`nomnom migrate --apply\`)`,
  ]);
  await migrate(env.sql, registry, silentLogger, "all");
  assert.deepEqual(await migrate(env.sql, registry, silentLogger), { applied: [], problems: [] });
});
