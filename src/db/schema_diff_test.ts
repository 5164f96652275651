import assert from "node:assert/strict";
import { createRegistry } from "../registry/load.ts";
import type { Entity } from "../registry/types.ts";
import {
  declaredColumns,
  describeProblem,
  diffTable,
  isWidening,
  type LiveColumn,
  type LiveTable,
} from "./schema_diff.ts";

function entity(fields: string, key = "[order_key]"): Entity {
  const registry = createRegistry([{
    path: "order.yaml",
    text: `
entity:
  name: Order
  fields: ${fields}
  persistence: { database: { unicity_fields: ${key} } }`,
  }]);
  return registry.entities.get("Order")!;
}

const ORDER = entity(`[{ name: order_key }, { name: value, type: Integer }, { name: note, nullable: true }]`);

/** The table nomnom would have created for `e`, as the catalog would describe it. */
function tableOf(e: Entity): LiveTable {
  const columns: LiveColumn[] = [
    { name: "id", type: "bigint", notNull: true, hasDefault: true },
    ...declaredColumns(e).map((c) => ({
      name: c.name,
      type: c.type,
      notNull: !c.nullable || ["_message_id", "_seq", "_updated_at"].includes(c.name),
      hasDefault: c.name === "_updated_at",
    })),
  ];
  const key = e.storage!.key;
  return {
    columns,
    uniqueIndexes: [{
      name: "orders_nomnom_key",
      columns: key,
      usable: true,
      deferrable: false,
      constraint: "orders_nomnom_key",
    }],
    indexes: [],
  };
}

const withColumn = (t: LiveTable, name: string, patch: Partial<LiveColumn>): LiveTable => ({
  ...t,
  columns: t.columns.map((c) => (c.name === name ? { ...c, ...patch } : c)),
});

Deno.test("diffTable() finds nothing between an entity and the table nomnom made for it", () => {
  assert.deepEqual(diffTable(ORDER, tableOf(ORDER)), []);
});

Deno.test("diffTable() creates a missing table, with its key constraint", () => {
  const [change] = diffTable(ORDER, undefined);
  assert.equal(change.kind, "create_table");
  assert.ok(change.safe);
  assert.match(change.sql[0], /CONSTRAINT "orders_nomnom_key" UNIQUE \("order_key"\)/);
});

Deno.test("diffTable() adds a new field as a nullable column, even a NOT NULL one (existing rows have no value)", () => {
  const table = { ...tableOf(ORDER), columns: tableOf(ORDER).columns.filter((c) => c.name !== "value") };
  const [change] = diffTable(ORDER, table);
  assert.deepEqual([change.kind, change.safe, change.sql], [
    "add_column",
    true,
    [`ALTER TABLE "orders" ADD COLUMN "value" integer`],
  ]);
});

Deno.test("diffTable() widens a narrower type safely and leaves a wider one alone", () => {
  const bigger = entity(
    `[{ name: order_key }, { name: value, type: BigInt }, { name: note, nullable: true }]`,
  );
  const [widen] = diffTable(bigger, tableOf(ORDER));
  assert.deepEqual([widen.kind, widen.safe, widen.sql], [
    "widen_type",
    true,
    [`ALTER TABLE "orders" ALTER COLUMN "value" TYPE bigint`],
  ]);
  assert.deepEqual(diffTable(ORDER, tableOf(bigger)), [], "an integer field fits a bigint column");
  const limited = withColumn(tableOf(ORDER), "note", { type: "character varying(20)" });
  assert.equal(diffTable(ORDER, limited)[0].kind, "widen_type", "varchar(20) → text keeps every value");
});

Deno.test("diffTable() refuses a type change, naming entity, table, column, both types and the fix", () => {
  const text = entity(`[{ name: order_key }, { name: value }, { name: note, nullable: true }]`);
  const changes = diffTable(text, withColumn(tableOf(ORDER), "value", { type: "integer" }));
  // text → integer is not a widening the other way either: the entity's text values may not be numbers
  assert.deepEqual(diffTable(ORDER, tableOf(text)).map((c) => [c.kind, c.safe]), [["change_type", false]]);
  assert.equal(changes.length, 1);
  const [change] = changes;
  assert.equal(change.safe, false);
  assert.deepEqual(change.cast, { from: "integer", to: "text", key: ["order_key"] });
  assert.equal(
    describeProblem(change),
    `entity "Order", table "orders", column "value": the table has integer NOT NULL, the entity declares ` +
      `text (string) NOT NULL. Fix: ALTER TABLE "orders" ALTER COLUMN "value" TYPE text USING "value"::text; ` +
      "(or run `nomnom migrate --apply`)",
  );
});

Deno.test("diffTable() drops a NOT NULL the entity made nullable, and keeps one the entity made required", () => {
  const table = withColumn(tableOf(ORDER), "note", { notNull: true });
  assert.deepEqual(diffTable(ORDER, table).map((c) => [c.kind, c.safe, c.sql[0]]), [
    ["drop_not_null", true, `ALTER TABLE "orders" ALTER COLUMN "note" DROP NOT NULL`],
  ]);
  assert.deepEqual(diffTable(ORDER, withColumn(tableOf(ORDER), "value", { notNull: false })), []);
});

Deno.test("diffTable() refuses a NOT NULL column without default the entity does not know (a rename)", () => {
  const renamed = entity(
    `[{ name: order_key }, { name: amount, type: Integer }, { name: note, nullable: true }]`,
  );
  const changes = diffTable(renamed, tableOf(ORDER));
  assert.deepEqual(changes.map((c) => [c.kind, c.safe, c.column]), [
    ["add_column", true, "amount"],
    ["unknown_not_null", false, "value"],
  ]);
  assert.match(describeProblem(changes[1]), /column "value": the table has integer NOT NULL without default/);
  assert.match(
    describeProblem(changes[1]),
    /renamed to "amount", copy it first: UPDATE "orders" SET "amount" = "value"/,
  );
  assert.match(describeProblem(changes[1]), /Fix: ALTER TABLE "orders" ALTER COLUMN "value" DROP NOT NULL;/);
  const withDefault = {
    ...tableOf(ORDER),
    columns: [...tableOf(ORDER).columns, { name: "x", type: "text", notNull: true, hasDefault: true }],
  };
  assert.deepEqual(
    diffTable(ORDER, withDefault),
    [],
    "a NOT NULL column with a default does not stop inserts",
  );
});

Deno.test("diffTable() adds a missing key safely but refuses to move nomnom's key to other columns", () => {
  const noKey = { ...tableOf(ORDER), uniqueIndexes: [] };
  assert.deepEqual(diffTable(ORDER, noKey).map((c) => [c.kind, c.safe]), [["add_key", true]]);
  const partial = {
    ...tableOf(ORDER),
    uniqueIndexes: [{ name: "p", columns: ["order_key"], usable: false, deferrable: false }],
  };
  assert.deepEqual(
    diffTable(ORDER, partial).map((c) => c.kind),
    ["add_key"],
    "an index ON CONFLICT cannot use",
  );
  const wider = entity(
    `[{ name: order_key }, { name: value, type: Integer }, { name: note, nullable: true }]`,
    "[order_key, value]",
  );
  const [change] = diffTable(wider, tableOf(ORDER));
  assert.deepEqual([change.kind, change.safe, change.has, change.declares], [
    "change_key",
    false,
    "unique key (order_key)",
    "unique key (order_key, value)",
  ]);
  assert.deepEqual(change.sql, [
    `ALTER TABLE "orders" DROP CONSTRAINT "orders_nomnom_key"`,
    `ALTER TABLE "orders" ADD CONSTRAINT "orders_nomnom_key" UNIQUE ("order_key", "value")`,
  ]);
});

Deno.test("diffTable() refuses a deferrable unique key (ON CONFLICT cannot use one)", () => {
  const table = {
    ...tableOf(ORDER),
    uniqueIndexes: [
      ...tableOf(ORDER).uniqueIndexes,
      {
        name: "orders_deferred",
        columns: ["order_key"],
        usable: true,
        deferrable: true,
        constraint: "orders_deferred",
      },
    ],
  };
  const [change] = diffTable(ORDER, table);
  assert.deepEqual([change.kind, change.sql], [
    "deferrable_key",
    [`ALTER TABLE "orders" DROP CONSTRAINT "orders_deferred"`],
  ]);
});

Deno.test("diffTable() adopts a table made before nomnom: its bookkeeping columns are added nullable", () => {
  const legacy: LiveTable = {
    columns: [
      { name: "id", type: "integer", notNull: true, hasDefault: true },
      { name: "order_key", type: "text", notNull: true, hasDefault: false },
      { name: "value", type: "integer", notNull: true, hasDefault: false },
      { name: "note", type: "text", notNull: false, hasDefault: false },
    ],
    uniqueIndexes: [{
      name: "orders_order_key_key",
      columns: ["order_key"],
      usable: true,
      deferrable: false,
      constraint: "orders_order_key_key",
    }],
    indexes: [],
  };
  const changes = diffTable(ORDER, legacy);
  assert.ok(changes.every((c) => c.safe));
  assert.deepEqual(changes.map((c) => c.column), ["_message_id", "_seq", "_updated_at"]);
});

Deno.test("isWidening() only allows conversions that keep every value", () => {
  assert.ok(isWidening("integer", "bigint"));
  assert.ok(isWidening("real", "double precision"));
  assert.ok(isWidening("numeric(10,2)", "numeric"));
  assert.ok(!isWidening("bigint", "double precision"), "2^53 + 1 is not a double");
  assert.ok(!isWidening("bigint", "integer"));
  assert.ok(!isWidening("integer", "numeric(10,2)"));
  assert.ok(!isWidening("character(3)", "text"), "char(n) → text strips trailing blanks");
  assert.ok(!isWidening("text", "jsonb"));
});
