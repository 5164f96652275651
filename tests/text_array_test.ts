import assert from "node:assert/strict";
import process from "node:process";
import postgres from "postgres";
import { textArray } from "../src/db/text_array.ts";

const PG_URL = process.env.NOMNOM_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

Deno.test("textArray() literals reach PostgreSQL as the same elements, in order", async () => {
  const sql = postgres(PG_URL, { max: 1, onnotice: () => {} });
  try {
    const values = [
      "plain",
      null,
      "NULL",
      "",
      " spaced ",
      `"quoted"`,
      "back\\slash\\",
      "{braces,commas}",
      "line\nbreak\ttab\r",
      "ünï©ødé 🍔",
      '\\"',
    ];
    const rows = await sql.unsafe(`SELECT v FROM unnest($1::text[]) WITH ORDINALITY AS u(v, i) ORDER BY i`, [
      textArray(values),
    ], { prepare: true });
    assert.deepEqual(rows.map((r) => r.v), values);
  } finally {
    await sql.end();
  }
});
