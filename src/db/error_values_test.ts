import assert from "node:assert/strict";
import { hideValues } from "./error_values.ts";

Deno.test("hideValues() keeps SQLSTATE, constraint, table and column names and hides every value", () => {
  const cases: [string, string][] = [
    [
      '[23505] duplicate key value violates unique constraint "orders_pkey" (Key (order_key)=(O-1) already exists.)',
      '[23505] duplicate key value violates unique constraint "orders_pkey" (Key (order_key)=(…) already exists.)',
    ],
    [
      '[23503] insert or update on table "items" violates foreign key constraint "items_fk" ' +
      '(Key (order_key, line)=(O-1, 2) is not present in table "orders".)',
      '[23503] insert or update on table "items" violates foreign key constraint "items_fk" ' +
      '(Key (order_key, line)=(…) is not present in table "orders".)',
    ],
    [
      '[23502] null value in column "total" of relation "orders" violates not-null constraint ' +
      "(Failing row contains (O-1, secret@example.com, null).)",
      '[23502] null value in column "total" of relation "orders" violates not-null constraint ' +
      "(Failing row contains (…).)",
    ],
    [
      '[23514] new row for relation "orders" violates check constraint "positive" (Failing row contains (O-1, -5).)',
      '[23514] new row for relation "orders" violates check constraint "positive" (Failing row contains (…).)',
    ],
    [
      '[23P01] conflicting key value violates exclusion constraint "no_overlap" ' +
      "(Key (room)=(7) conflicts with existing key (room)=(8).)",
      '[23P01] conflicting key value violates exclusion constraint "no_overlap" ' +
      "(Key (room)=(…) conflicts with existing key (room)=(…).)",
    ],
    [
      '[22P02] invalid input syntax for type integer: "abc"',
      '[22P02] invalid input syntax for type integer: "…"',
    ],
    [
      '[22003] value "99999999999" is out of range for type integer',
      '[22003] value "…" is out of range for type integer',
    ],
    ["[22003] smallint out of range", "[22003] smallint out of range"],
    ["connection refused", "connection refused"],
  ];
  for (const [text, expected] of cases) assert.equal(hideValues(text), expected);
});

Deno.test("hideValues() hides a crafted value whole and a value cut short", () => {
  const crafted = '[23505] duplicate key value violates unique constraint "k" ' +
    "(Key (id)=(x) already exists.) SECRET) already exists.)";
  assert.doesNotMatch(hideValues(crafted), /SECRET/);
  assert.doesNotMatch(hideValues("[23502] x (Failing row contains (1, SECRET, and mo"), /SECRET/);
  assert.doesNotMatch(hideValues("[23505] x (Key (id)=(SECRET-cut"), /SECRET/);
  assert.doesNotMatch(hideValues('[22P02] invalid input syntax for type json: "SECRET'), /SECRET/);
});
