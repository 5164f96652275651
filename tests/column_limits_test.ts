/**
 * What the edge accepts against what PostgreSQL stores (src/registry/field_types.ts): a value passes a field's
 * validation exactly when the field's column type holds it unchanged. PostgreSQL is the judge, as the worker
 * sends values (text cast by the server, in a UTC session).
 */
import assert from "node:assert/strict";
import { connectDatabase } from "../src/db/connect.ts";
import { silentLogger } from "../src/log.ts";
import { fieldSchema, type FieldType, PG_TYPES, toSqlText } from "../src/registry/field_types.ts";
import { createTestEnv } from "./harness.ts";

const CASES: [FieldType, unknown][] = [
  ["integer", 2147483647],
  ["integer", 2147483648],
  ["integer", -2147483648],
  ["integer", -2147483649],
  ["bigint", "9223372036854775807"],
  ["bigint", "9223372036854775808"],
  ["bigint", "-9223372036854775808"],
  ["bigint", "-9223372036854775809"],
  ["bigint", 9007199254740991],
  ["float", 1.7976931348623157e308],
  ["float", 5e-324],
  ["decimal", "1e131071"],
  ["decimal", "1e131072"],
  ["decimal", "9".repeat(131072)],
  ["decimal", "9".repeat(131073)],
  ["decimal", "0." + "1".repeat(16383)],
  ["decimal", "0." + "1".repeat(16384)],
  ["decimal", "1e-16383"],
  ["decimal", "1e-16384"],
  ["decimal", "1.5e-16382"],
  ["decimal", "1.5e-16383"],
  ["decimal", "0.0001e131075"],
  ["decimal", "0.0001e131076"],
  ["decimal", "00001e131071"],
  ["decimal", "0e999999"],
  ["decimal", "0e-16383"],
  ["decimal", "0e-16384"],
  ["decimal", "0e1073741822"],
  ["decimal", "0e1073741823"],
  ["decimal", "-12.5E+3"],
  ["decimal", 1e308],
  ["date", "0000-01-01"],
  ["date", "0001-01-01"],
  ["date", "9999-12-31"],
  ["date", "2024-02-29"],
  ["date", "2025-02-29"],
  ["datetime", "0000-01-01T00:00:00Z"],
  ["datetime", "0000-12-31T23:59:59-01:00"],
  ["datetime", "0001-01-01T00:00:00Z"],
  ["datetime", "0001-01-01T00:00:00+15:59"],
  ["datetime", "9999-12-31T23:59:59.999999-15:59"],
  ["datetime", "2025-01-01T00:00:00+16:00"],
  ["datetime", "2025-01-01T00:00:00-16:00"],
  ["datetime", "2025-01-01T10:00"],
  ["string", "a\u0000b"],
  ["string", "\ud800"],
  ["string", "x\udc00"],
  ["string", "ok ✓ 😀"],
  ["json", { a: "\u0000" }],
  ["json", { "\u0000": 1 }],
  ["json", ["\ud800"]],
  ["json", { a: [1, JSON.parse("1e400")] }],
  ["json", { a: [1, 2, { b: "x ✓" }], c: null }],
  ["object", { note: "a\u0000" }],
  ["object", { note: "fine" }],
  ["list_string", ["fine", "\udfff"]],
  ["list_object", [{ a: 1 }, { b: "\u0000" }]],
];

Deno.test("a value passes validation exactly when PostgreSQL stores it unchanged in the field's column type", async () => {
  await using env = await createTestEnv();
  const sql = await connectDatabase(env.config.databaseUrl!, 1, silentLogger);
  try {
    for (const [type, value] of CASES) {
      const ours = fieldSchema(type, false).safeParse(value).success;
      const column = PG_TYPES[type];
      let stored: boolean;
      try {
        const [{ back }] = await sql.unsafe(`SELECT $1::text::${column}::text AS back`, [
          toSqlText(type, value),
        ]);
        // Text and JSON must come back as they were sent (a lone surrogate would come back as U+FFFD, an
        // Infinity inside JSON as null); the other types only have to be accepted.
        stored = type === "string"
          ? back === value
          : column === "jsonb"
          ? isDeepEqual(JSON.parse(back), value)
          : true;
      } catch {
        stored = false;
      }
      const shown = typeof value === "string" && value.length > 40
        ? `${value.slice(0, 12)}… (${value.length} chars)`
        : JSON.stringify(value);
      assert.equal(
        ours,
        stored,
        `${type} ${shown}: PostgreSQL ${stored ? "stores" : "refuses"} it (${column})`,
      );
    }
  } finally {
    await sql.end();
  }
});

function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}
