import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { classifyDatabaseError, type DatabaseFailure, describeError } from "./sqlstate.ts";

Deno.test("classifyDatabaseError() gives each SQLSTATE and connection code one kind", () => {
  const cases: [string, DatabaseFailure][] = [
    ["08006", "unavailable"],
    ["08001", "unavailable"],
    ["57P01", "unavailable"],
    ["57P03", "unavailable"],
    ["53300", "unavailable"],
    ["55000", "unavailable"],
    ["CONNECTION_CLOSED", "unavailable"],
    ["CONNECT_TIMEOUT", "unavailable"],
    ["ECONNREFUSED", "unavailable"],
    ["EPIPE", "unavailable"],
    ["40P01", "lock_conflict"],
    ["55P03", "lock_conflict"],
    ["42703", "schema_mismatch"],
    ["42P01", "schema_mismatch"],
    ["42804", "schema_mismatch"],
    ["21000", "permanent"],
    ["22003", "permanent"],
    ["22P02", "permanent"],
    ["23505", "permanent"],
    ["23502", "permanent"],
    ["54000", "permanent"],
    ["40001", "transient"],
    ["57014", "transient"],
    ["0A000", "transient"],
  ];
  for (const [code, kind] of cases) assert.equal(classifyDatabaseError({ code }), kind, code);
});

Deno.test("classifyDatabaseError() leaves errors without a database code unclassified", () => {
  assert.equal(classifyDatabaseError(new Error("no code")), undefined);
  assert.equal(classifyDatabaseError({ code: 42 }), undefined);
  assert.equal(classifyDatabaseError({ code: "UNSAFE_TRANSACTION" }), undefined);
  assert.equal(classifyDatabaseError(undefined), undefined);
});

Deno.test("describeError() names the SQLSTATE and the server's detail", () => {
  const error = Object.assign(new Error("duplicate key"), { code: "23505", detail: "Key (id)=(1) exists." });
  assert.equal(describeError(error), "[23505] duplicate key (Key (id)=(1) exists.)");
  assert.equal(describeError(Object.assign(new Error("closed"), { code: "CONNECTION_CLOSED" })), "closed");
});

Deno.test("no module but this one branches on a SQLSTATE: every other caller asks classifyDatabaseError()", async () => {
  const src = new URL("../", import.meta.url).pathname;
  const files = (await readdir(src, { recursive: true }))
    .filter((f) => f.endsWith(".ts") && !f.endsWith("_test.ts") && f !== "db/sqlstate.ts");
  const found: string[] = [];
  for (const file of files) {
    const text = await readFile(src + file, "utf8");
    for (
      const [code] of text.matchAll(
        /(?<=["'`])(?:0[0-9A-Z]|2[0-9A-Z]|4[0-9A-Z]|5[0-9A-Z]|XX)[0-9A-Z]{3}(?=["'`])/g,
      )
    ) {
      found.push(`${file}: ${code}`);
    }
  }
  // The one exception: which NOT NULL violations mean "a column the entity does not write" (not a kind).
  assert.deepEqual(found, ["db/schema_errors.ts: 23502"]);
});
