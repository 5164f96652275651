import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { EntityDefinitionError, PayloadError } from "../errors.ts";
import { decodeMessage } from "./derive.ts";
import { createKeyOf } from "./key.ts";
import { createRegistry, loadRegistry } from "./load.ts";
import { DERIVED_META_COLUMNS, META_COLUMNS } from "./names.ts";

const COMPAT = new URL("../../tests/fixtures/nomnom-tpch/", import.meta.url).pathname;
const NESTED = new URL("../../tests/fixtures/nested/", import.meta.url).pathname;
const OURS = new URL("../../entities/", import.meta.url).pathname;

function payloadIssues(fn: () => unknown): { field: string; message: string }[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof PayloadError) return error.issues;
    throw error;
  }
  assert.fail("expected the message to be rejected");
}

function loadErrors(files: Record<string, string>): string[] {
  try {
    createRegistry(Object.entries(files).map(([path, text]) => ({ path, text })));
  } catch (error) {
    if (error instanceof EntityDefinitionError) return error.problems;
    throw error;
  }
  assert.fail("expected the entities to be rejected");
}

Deno.test("loadRegistry() loads the original TPC-H entities unchanged", async () => {
  const registry = await loadRegistry(COMPAT + "entities");
  assert.deepEqual([...registry.entities.keys()], ["Customer", "Order", "OrderLineItem", "Product"]);
  assert.deepEqual(registry.stored.map((e) => e.storage!.table), [
    "customers",
    "orders",
    "order_line_items",
    "products",
  ]);
  assert.deepEqual(registry.ingestible.map((e) => e.name), ["Customer", "Order", "Product"]);
  const item = registry.entities.get("OrderLineItem")!;
  assert.equal(item.root, "Order");
  assert.deepEqual(item.storage!.key, ["order_key", "line_number"]);
  assert.ok(!registry.entities.get("Order")!.storage!.columns.some((c) => c.name === "line_items"));
});

Deno.test("loadRegistry() loads the project's own entities", async () => {
  const registry = await loadRegistry(OURS);
  assert.deepEqual(registry.entities.get("Order")!.children, ["OrderLineItem"]);
  assert.equal(registry.entities.get("OrderLineItem")!.storage!.table, "order_line_items");
  assert.deepEqual(registry.entities.get("Product")!.storage!.columns.map((c) => c.name), [
    "sku",
    "title",
    "price",
    "stock",
  ]);
});

Deno.test("decodeMessage() turns the example order into one order and two line items", async () => {
  const registry = await loadRegistry(COMPAT + "entities");
  const body = JSON.parse(await readFile(COMPAT + "example_order.json", "utf8"));
  const decoded = decodeMessage(registry, registry.entities.get("Order")!, body);
  const items = decoded.derived.get("OrderLineItem")!;
  assert.equal(items.length, 2);
  assert.equal(items[1].values.order_key, "O12345");
  assert.equal(items[1].values.line_number, 2);
  assert.equal(items[0].values.receipt_date, null);
});

Deno.test("decodeMessage() names every failing field, the root's and the derived ones' together", async () => {
  const registry = await loadRegistry(COMPAT + "entities");
  const body = JSON.parse(await readFile(COMPAT + "example_order.json", "utf8"));
  delete body.customer_key;
  body.total_price = "12";
  body.line_items[1].quantity = 2.5;
  const order = registry.entities.get("Order")!;
  const fields = payloadIssues(() => decodeMessage(registry, order, body)).map((i) => i.field).sort();
  assert.deepEqual(fields, ["customer_key", "line_items[1].quantity", "total_price"]);
  delete body.total_price;
  body.total_price = 1;
  body.customer_key = "C";
  const derived = payloadIssues(() => decodeMessage(registry, order, body));
  assert.deepEqual(derived.map((i) => i.field), ["line_items[1].quantity"]);
});

Deno.test("decodeMessage() reports an invalid root field once, not again in every child that copies it", async () => {
  const registry = await loadRegistry(COMPAT + "entities");
  const body = JSON.parse(await readFile(COMPAT + "example_order.json", "utf8"));
  body.order_key = 12345; // OrderLineItem.order_key copies it
  const issues = payloadIssues(() => decodeMessage(registry, registry.entities.get("Order")!, body));
  assert.deepEqual(issues.map((i) => i.field), ["order_key"]);
  body.line_items = "none";
  const [issue, ...rest] = payloadIssues(() =>
    decodeMessage(registry, registry.entities.get("Order")!, body)
  );
  assert.deepEqual([issue.field, rest.map((i) => i.field)], ["order_key", ["line_items"]]);
});

Deno.test("decodeMessage() rejects two line items with the same key", async () => {
  const registry = await loadRegistry(COMPAT + "entities");
  const body = JSON.parse(await readFile(COMPAT + "example_order.json", "utf8"));
  body.line_items[1].line_number = 1;
  const [issue] = payloadIssues(() => decodeMessage(registry, registry.entities.get("Order")!, body));
  assert.match(issue.message, /#1 and #2 have the same key/);
});

Deno.test("decodeMessage() hands on the key its duplicate check computed, the same as createKeyOf() gives", async () => {
  const registry = await loadRegistry(COMPAT + "entities");
  const body = JSON.parse(await readFile(COMPAT + "example_order.json", "utf8"));
  const items = decodeMessage(registry, registry.entities.get("Order")!, body).derived.get("OrderLineItem")!;
  assert.ok(items.length > 1);
  const keyOf = createKeyOf(registry.entities.get("OrderLineItem")!);
  for (const item of items) assert.equal(item.key, keyOf(item.values));
});

const ORDER = `
entity:
  name: Order
  fields:
    - { name: order_id }
    - { name: items, type: "List[Object]" }
  persistence: { database: { unicity_fields: [order_id] } }
`;

Deno.test("createRegistry() names file, entity and key of an unknown key", () => {
  const problems = loadErrors({ "order.yaml": ORDER.replace("fields:", "feilds: []\n  fields:") });
  assert.equal(problems.length, 1);
  assert.match(problems[0], /entity "Order" from "order\.yaml": unknown key "feilds"/);
});

Deno.test("createRegistry() rejects an unknown field type", () => {
  const [problem] = loadErrors({ "order.yaml": ORDER.replace('type: "List[Object]"', "type: uuidv9") });
  assert.equal(
    problem,
    `Cannot load entity "Order" from "order.yaml": fields[1] "items" has unknown type "uuidv9"; valid types: ` +
      "string, integer, bigint, float, decimal, boolean, date, datetime, json, object, list[object], list[string]",
  );
  const [typo] = loadErrors({ "order.yaml": ORDER.replace('type: "List[Object]"', "type: intger") });
  assert.match(typo, /unknown type "intger"; did you mean integer\? valid types: string, integer/);
});

Deno.test("createRegistry() reports every problem of every file in one run, naming the valid keys", () => {
  const problems = loadErrors({
    // An unknown key, and in the same file a bad type and a bad field name: all three.
    "a.yaml": ORDER.replace("persistence:", "persistance:").replace(
      "- { name: order_id }",
      "- { name: order_id, type: uuidv9 }",
    )
      .replace("- { name: items", "- { name: Items"),
    // An invalid value: the entity is unusable, and its child does not report it missing as well.
    "b.yaml": "entity: { name: Cart, source_type: rooot, fields: [{ name: id }] }\n",
    "c.yaml": "entity: { name: CartItem, source_type: derived, parent: Cart, fields: [{ name: id }] }\n",
    // Broken YAML: reported, and its child is not a follow-on either.
    "d.yaml": "entity: { name: Shelf, fields: [\n",
    "e.yaml": "entity: { name: ShelfItem, source_type: derived, parent: Shelf }\n",
  });
  assert.deepEqual(problems.map((p) => p.replace(/:.*/s, "")), [
    'Cannot load entity "Order" from "a.yaml"',
    'Cannot load entity "Cart" from "b.yaml"',
    'Cannot load "d.yaml"',
    'Cannot load entity "Order" from "a.yaml"',
    'Cannot load entity "Order" from "a.yaml"',
  ], problems.join("\n"));
  const all = problems.join("\n");
  assert.match(
    all,
    /unknown key "persistance" in entity; did you mean persistence\? Keys in entity: name, source_type, type, doc, prefix, abstract, fields, repeated_for, parent, persistence\./,
  );
  assert.match(all, /fields\[0\] "order_id" has unknown type "uuidv9"/);
  assert.match(all, /fields\[1\] "Items": field names must be snake_case/);
  assert.match(all, /source_type: Invalid option: expected one of "root"\|"derived"\|"reference"/);
  assert.doesNotMatch(all, /"Cart" is not defined|"Shelf" is not defined/);
});

Deno.test("an invalid value leaves the entity unusable but does not hide its fields' problems, nor adds others", () => {
  const problems = loadErrors({
    "a.yaml": `entity:
  name: Cart
  type: refrence
  fields: [{ name: cart_id, type: Strng }, { name: Total, nullable: "yes" }]
  repeated_for: { entity: Nowhere, field: items, each_known_as: it }
  persistence: { database: { unicity_fields: [nope] } }
`,
  });
  assert.deepEqual(
    problems.map((p) => p.replace(/^Cannot load entity "Cart" from "a.yaml": /, "")),
    [
      `entity.type: Invalid option: expected one of "root"|"derived"|"reference"`,
      `entity.fields[1].nullable: Invalid input: expected boolean, received string`,
      `fields[0] "cart_id" has unknown type "Strng"; did you mean string? valid types: string, integer, bigint, ` +
      `float, decimal, boolean, date, datetime, json, object, list[object], list[string]`,
      `fields[1] "Total": field names must be snake_case (a-z, 0-9, _)`,
    ],
    "what depends on the entity's kind (repeated_for, its parent, the key) is not judged: it would be a guess",
  );
});

Deno.test("a mistyped field name in a key, an override or a parent's list is named with the closest field", () => {
  const problems = loadErrors({
    "order.yaml": ORDER.replace("unicity_fields: [order_id]", "unicity_fields: [ordr_id]"),
    "item.yaml": `entity:
  name: Item
  source_type: derived
  repeated_for: { entity: Order, field: itms, each_known_as: it }
  fields: [{ name: sku }]
  persistence: { field_overrides: [{ name: skus }] }
`,
  });
  const all = problems.join("\n");
  assert.match(
    all,
    /unicity_fields: "ordr_id" is not a stored column; did you mean order_id\? Stored columns: order_id\./,
  );
  assert.match(all, /repeated_for\.field: "Order" has no field "itms"; did you mean items\?/);
  assert.match(all, /field_overrides\[0\]: "skus" is not a field of the entity; did you mean sku\?/);
});

Deno.test("createRegistry() names the keys allowed where an unknown key is nested, and the closest entity of a missing parent", () => {
  const problems = loadErrors({
    "order.yaml": ORDER.replace("unicity_fields:", "unicity_field:"),
    "item.yaml": "entity: { name: Item, source_type: derived, parent: Ordr }\n",
  });
  assert.equal(problems.length, 2, problems.join("\n"));
  assert.match(
    problems[0],
    /unknown key "unicity_field" in entity\.persistence\.database; did you mean unicity_fields\? Keys in entity\.persistence\.database: conformant_table, conformant_id_column, unicity_fields\./,
  );
  assert.match(problems[1], /parent entity "Ordr" is not defined \(or is abstract\); did you mean Order\?/);
});

Deno.test("createRegistry() rejects an unknown transform at load time", () => {
  const item = `
entity:
  name: Item
  source_type: derived
  repeated_for: { entity: Order, field: items, each_known_as: it }
  fields:
    - name: sku
      computed_from: { transform: shout, sources: [it], args: { field: sku } }
`;
  const [problem] = loadErrors({ "order.yaml": ORDER, "item.yaml": item });
  assert.match(problem, /entity "Item" from "item\.yaml": fields\[0\] "sku": unknown transform "shout"/);
});

Deno.test("createRegistry() rejects a derived entity whose parent is missing", () => {
  const item = `
entity: { name: Item, source_type: derived, repeated_for: { entity: Cart, field: items, each_known_as: it } }
`;
  const [problem] = loadErrors({ "order.yaml": ORDER, "item.yaml": item });
  assert.match(problem, /entity "Item" from "item\.yaml": parent entity "Cart" is not defined/);
});

Deno.test("createRegistry() rejects a key on a column that does not exist or may be null", () => {
  const problems = loadErrors({
    "order.yaml": ORDER.replace("[order_id]", "[order_id, nope]"),
    "cart.yaml": ORDER.replace("Order", "Cart").replace(
      "- { name: order_id }",
      "- { name: order_id, nullable: true }",
    ),
  });
  assert.equal(problems.length, 2);
  assert.match(problems.join("\n"), /"nope" is not a stored column/);
  assert.match(problems.join("\n"), /"order_id" is nullable/);
});

Deno.test("createRegistry() rejects invalid YAML, duplicate names and names that are not SQL-safe", () => {
  const problems = loadErrors({
    "a.yaml": "entity: [",
    "b.yaml": ORDER,
    "c.yaml": ORDER,
    "d.yaml": ORDER.replace("Order", "Cart").replace("order_id }", "order-id }"),
  });
  assert.match(problems[0], /"a\.yaml": invalid YAML/);
  assert.match(problems.join("\n"), /"Order" from "c\.yaml": already defined in "b\.yaml"/);
  assert.match(problems.join("\n"), /"order-id": field names must be snake_case/);
});

Deno.test("createRegistry() keys rows by message id when an entity has no unicity fields", () => {
  const registry = createRegistry([{
    path: "o.yaml",
    text: ORDER.replace(/persistence:.*/, "persistence: {}"),
  }]);
  assert.deepEqual(registry.entities.get("Order")!.storage!.key, ["_message_id"]);
  assert.equal(registry.entities.get("Order")!.storage!.naturalKey, false);
});

Deno.test("loadRegistry() keys every derived entity without unicity fields by message and position", async () => {
  const registry = await loadRegistry(NESTED);
  for (const name of ["Item", "Note", "Part"]) {
    assert.deepEqual(registry.entities.get(name)!.storage!.key, ["_message_id", "_index"], name);
  }
  const decoded = decodeMessage(registry, registry.entities.get("Order")!, {
    order_id: "O1",
    items: [
      { sku: "A", note: "a", parts: [{ part_no: 1 }, { part_no: 2 }] },
      { sku: "B", parts: [{ part_no: 1 }, { part_no: 2 }] },
    ],
  });
  // Positions are unique across the whole message, not per parent: two notes, four parts.
  assert.deepEqual(decoded.derived.get("Note")!.map((n) => [n.index, n.values.sku]), [[0, "A"], [1, "B"]]);
  assert.deepEqual(
    decoded.derived.get("Part")!.map((p) => [p.index, p.values.sku, p.values.part_no]),
    [[0, "A", 1], [1, "A", 2], [2, "B", 1], [3, "B", 2]],
  );
});

/** ORDER with a derived Item per `items` element whose fields (name → type) are all its key. */
function orderWithKeyedItems(fields: Record<string, string>) {
  const names = Object.keys(fields);
  return createRegistry([
    { path: "order.yaml", text: ORDER },
    {
      path: "item.yaml",
      text: `
entity:
  name: Item
  source_type: derived
  repeated_for: { entity: Order, field: items, each_known_as: it }
  fields: [${names.map((n) => `{ name: ${n}, type: ${fields[n]} }`).join(", ")}]
  persistence: { database: { unicity_fields: [${names.join(", ")}] } }`,
    },
  ]);
}

Deno.test("decodeMessage() rejects two line items whose keys differ only in notation", () => {
  const registry = orderWithKeyedItems({ line: "BigInt", price: "Decimal" });
  const order = registry.entities.get("Order")!;
  const items = [{ line: 5, price: "1.50" }, { line: "5", price: 1.5 }];
  const [issue] = payloadIssues(() => decodeMessage(registry, order, { order_id: "O1", items }));
  assert.match(issue.message, /Item #1 and #2 have the same key/);
});

Deno.test("field_overrides nullable: false makes a nullable field required in messages too (the stricter wins)", () => {
  const registry = createRegistry([{
    path: "order.yaml",
    text: `
entity:
  name: Order
  fields: [{ name: order_id }, { name: note, nullable: true }, { name: clerk }]
  persistence:
    database: { unicity_fields: [order_id] }
    field_overrides: [{ name: order_id }, { name: note, nullable: false }, { name: clerk, nullable: true }]`,
  }]);
  const order = registry.entities.get("Order")!;
  assert.deepEqual(order.storage!.columns.map((c) => [c.name, c.nullable]), [
    ["order_id", false],
    ["note", false],
    ["clerk", false],
  ]);
  const issues = payloadIssues(() => decodeMessage(registry, order, { order_id: "O1", clerk: "c" }));
  assert.deepEqual(issues.map((i) => [i.field, i.message]), [["note", "is required"]]);
});

Deno.test("decodeMessage() rejects an invalid key value in a derived entity as a payload error", () => {
  const registry = orderWithKeyedItems({ line: "BigInt", at: "DateTime" });
  const items = [{ line: "x", at: 5 }, { line: "x", at: 5 }];
  const issues = payloadIssues(() =>
    decodeMessage(registry, registry.entities.get("Order")!, { order_id: "O1", items })
  );
  assert.deepEqual(issues.map((i) => i.field), [
    "items[0].line",
    "items[0].at",
    "items[1].line",
    "items[1].at",
  ]);
});

Deno.test("createRegistry() rejects two entity names that differ only by case, naming both files", () => {
  const problems = loadErrors({
    "order_item.yaml": ORDER.replace("name: Order", "name: OrderItem"),
    "orderitem.yaml": ORDER.replace("name: Order", "name: Orderitem"),
  });
  assert.deepEqual(problems, [
    `Cannot load entity "Orderitem" from "orderitem.yaml": "OrderItem" in "order_item.yaml" differs only by case ` +
    `(entity names must differ by more than case: they name tables, routes and subjects)`,
  ]);
});

Deno.test("a field named like a column nomnom adds is refused, whichever kind of entity declares it", () => {
  for (const name of [...Object.keys(META_COLUMNS), ...Object.keys(DERIVED_META_COLUMNS)]) {
    const problems = loadErrors({
      "t.yaml": `entity: { name: Thing, fields: [{ name: ${name}, type: String }], persistence: {} }`,
    });
    assert.ok(problems.some((p) => p.includes(`column "${name}" collides with a column nomnom adds`)), name);
  }
});

Deno.test("a field named id is refused once, saying how to keep it; a duplicate field adds no second collision", () => {
  const problems = loadErrors({
    "t.yaml": `entity: { name: Thing, fields: [{ name: id }, { name: id }], persistence: {} }`,
  });
  assert.deepEqual(problems.map((p) => p.replace(/^Cannot load entity "Thing" from "t.yaml": /, "")), [
    `fields[1] "id": duplicate field name`,
    `column "id" collides with a column nomnom adds (the table's identity column "id"): rename the field, ` +
    `or name that column with persistence.database.conformant_id_column`,
  ]);
  const renamed =
    `entity: { name: Thing, fields: [{ name: id }], persistence: { database: { conformant_id_column: row_id } } }`;
  assert.equal(
    createRegistry([{ path: "t.yaml", text: renamed }]).entities.get("Thing")!.storage!.idColumn,
    "row_id",
  );
});

Deno.test("decodeMessage() names a failing json_get field by the key it was read from", () => {
  const registry = createRegistry([
    { path: "order.yaml", text: ORDER },
    {
      path: "item.yaml",
      text: `
entity:
  name: Item
  source_type: derived
  repeated_for: { entity: Order, field: items, each_known_as: it }
  fields:
    - { name: qty, type: Integer, computed_from: { transform: json_get_int, sources: [it], args: { field: quantity } } }
  persistence: {}`,
    },
  ]);
  const order = registry.entities.get("Order")!;
  const issues = payloadIssues(() =>
    decodeMessage(registry, order, { order_id: "o1", items: [{ quantity: 2 }, { quantity: "two" }] })
  );
  assert.deepEqual(issues.map((i) => i.field), ["items[1].quantity"]);
});
