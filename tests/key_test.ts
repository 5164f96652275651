/**
 * The worker's in-batch key comparison (src/registry/key.ts) against PostgreSQL's own: two values are one key for
 * the worker exactly when the database compares them equal in the column type nomnom gives the field.
 */
import assert from "node:assert/strict";
import { connectDatabase } from "../src/db/connect.ts";
import { silentLogger } from "../src/log.ts";
import { canonicalKeyValue } from "../src/registry/key.ts";
import { createTestEnv } from "./harness.ts";

type Type = Parameters<typeof canonicalKeyValue>[0];
const COLUMN: Record<string, string> = {
  bigint: "bigint",
  decimal: "numeric",
  datetime: "timestamptz",
  json: "jsonb",
};
const PAIRS: [Type, unknown, unknown][] = [
  ["bigint", 5, "5"],
  ["bigint", "-0", 0],
  ["bigint", "007", 7],
  ["bigint", "9007199254740993", "9007199254740992"],
  ["decimal", "1.50", 1.5],
  ["decimal", "15e-1", "0.15E1"],
  ["decimal", "-0.00", 0],
  ["decimal", "100", "1e2"],
  ["decimal", "1.5", "1.05"],
  ["decimal", "-1", "1"],
  ["datetime", "2025-01-01T12:00:00+02:00", "2025-01-01T10:00:00.000Z"],
  ["datetime", "2025-01-01T10:00:00.0000004Z", "2025-01-01T10:00:00Z"],
  ["datetime", "2025-01-01T10:00", "2025-01-01T10:00:00.000"],
  ["datetime", "2025-01-01T10:00:00", "2025-01-01T10:00:00Z"],
  ["datetime", "2025-01-01T10:00:00.000001Z", "2025-01-01T10:00:00Z"],
  ["json", { a: 1, b: [{ c: 1, d: 2 }] }, { b: [{ d: 2, c: 1 }], a: 1 }],
  ["json", [1, 2], [2, 1]],
];

Deno.test("two key values are one key for the worker exactly when PostgreSQL compares them equal", async () => {
  await using env = await createTestEnv();
  // nomnom's own pool (sessions in UTC), as the worker writes with it.
  const sql = await connectDatabase(env.config.databaseUrl!, 1, silentLogger);
  try {
    for (const [type, a, b] of PAIRS) {
      const column = COLUMN[type as string];
      const text = (v: unknown) => typeof v === "string" ? v : JSON.stringify(v);
      // As text, cast by the server, as the worker's unnest($n::text[]) sends values (postgres.js would turn a
      // timestamptz parameter into a JavaScript Date and drop the microseconds).
      const [{ equal }] = await sql.unsafe(`SELECT $1::text::${column} = $2::text::${column} AS equal`, [
        text(a),
        text(b),
      ]);
      const ours = JSON.stringify(canonicalKeyValue(type, a)) === JSON.stringify(canonicalKeyValue(type, b));
      assert.equal(
        ours,
        equal,
        `${type} ${text(a)} vs ${text(b)}: PostgreSQL says ${equal ? "equal" : "different"}`,
      );
    }
  } finally {
    await sql.end();
  }
});
