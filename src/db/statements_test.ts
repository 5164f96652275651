import assert from "node:assert/strict";
import { createRegistry } from "../registry/load.ts";
import { createEntityStatements, createEntityTableSpec } from "./statements.ts";

const registry = createRegistry([
  {
    path: "order.yaml",
    text: `
entity:
  name: Order
  fields: [{ name: order_key }, { name: total, type: Float }, { name: items, type: "List[Object]" }]
  persistence: { database: { unicity_fields: [order_key] } }`,
  },
  {
    path: "item.yaml",
    text: `
entity:
  name: Item
  source_type: derived
  repeated_for: { entity: Order, field: items, each_known_as: it }
  fields: [{ name: sku }]
  persistence: {}`,
  },
]);

Deno.test("upserts are guarded by the stream sequence and use one text[] parameter per column", () => {
  const { upsert, params } = createEntityStatements(registry.entities.get("Order")!);
  assert.match(
    upsert,
    /WHERE \(t\."_seq" IS NULL OR t\."_seq" < EXCLUDED\."_seq"\)/,
    "a row without a sequence (from before nomnom) counts as older",
  );
  assert.equal((upsert.match(/\$\d+::text\[\]/g) ?? []).length, params.length);
  assert.ok(!upsert.includes('"items"'), "list fields are not columns unless overridden");
});

Deno.test("only a root's upsert returns its rows (writeBatch reads which messages won; a child's answer is unread)", () => {
  assert.match(createEntityStatements(registry.entities.get("Order")!).upsert, /RETURNING t\."_seq"$/);
  assert.doesNotMatch(createEntityStatements(registry.entities.get("Item")!).upsert, /RETURNING/);
});

Deno.test("a derived entity without unicity fields is keyed by message and position, and records its root", () => {
  const item = registry.entities.get("Item")!;
  assert.match(createEntityTableSpec(item).create, /UNIQUE \("_message_id", "_index"\)/);
  assert.match(createEntityTableSpec(item).create, /"_root_key" text NOT NULL/);
  assert.ok(createEntityStatements(item).deleteStaleChildren);
});
