import assert from "node:assert/strict";
import { canonicalKeyValue } from "./key.ts";

const same = (type: Parameters<typeof canonicalKeyValue>[0], a: unknown, b: unknown) =>
  assert.deepEqual(canonicalKeyValue(type, a), canonicalKeyValue(type, b), `${type}: ${a} vs ${b}`);
const differ = (type: Parameters<typeof canonicalKeyValue>[0], a: unknown, b: unknown) =>
  assert.notDeepEqual(canonicalKeyValue(type, a), canonicalKeyValue(type, b), `${type}: ${a} vs ${b}`);

Deno.test("canonicalKeyValue() makes equal what PostgreSQL compares as equal", () => {
  same("bigint", 5, "5");
  same("bigint", "-0", 0);
  same("bigint", "007", 7);
  same("decimal", "1.50", 1.5);
  same("decimal", "15e-1", "0.15E1");
  same("decimal", "-0.00", 0);
  same("decimal", "100", "1e2");
  same("datetime", "2025-01-01T12:00:00+02:00", "2025-01-01T10:00:00.000Z");
  same("datetime", "2025-01-01T10:00:00.0000004Z", "2025-01-01T10:00:00Z"); // timestamptz keeps microseconds
  same("datetime", "2025-01-01T10:00", "2025-01-01T10:00:00.000");
  // nomnom's sessions run in UTC (src/db/connect.ts), so PostgreSQL reads a date-time without an offset as UTC.
  same("datetime", "2025-01-01T10:00:00", "2025-01-01T10:00:00Z");
  same("json", { a: 1, b: [{ c: 1, d: 2 }] }, { b: [{ d: 2, c: 1 }], a: 1 });
});

Deno.test("canonicalKeyValue() keeps apart what PostgreSQL keeps apart", () => {
  differ("bigint", "9007199254740993", "9007199254740992");
  differ("decimal", "1.5", "1.05");
  differ("decimal", "-1", "1");
  differ("datetime", "2025-01-01T10:00:00.000001Z", "2025-01-01T10:00:00Z");
  differ("string", "a", "A");
  differ("json", [1, 2], [2, 1]);
});

Deno.test("canonicalKeyValue() keeps the form integer and text keys always had", () => {
  assert.equal(canonicalKeyValue("bigint", "42"), 42);
  assert.equal(canonicalKeyValue("string", "O1"), "O1");
  assert.equal(canonicalKeyValue("integer", 3), 3);
  assert.equal(canonicalKeyValue("bigint", null), null);
});
