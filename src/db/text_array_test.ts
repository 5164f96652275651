import assert from "node:assert/strict";
import { textArray, textArrayOf } from "./text_array.ts";

Deno.test("textArray() quotes every element, escapes backslashes and quotes, and writes null as NULL", () => {
  assert.equal(textArray([]), "{}");
  assert.equal(textArray(["a", null, "NULL", ""]), `{"a",NULL,"NULL",""}`);
  assert.equal(textArray([`say "hi"`, "back\\slash", "{,} "]), `{"say \\"hi\\"","back\\\\slash","{,} "}`);
});

Deno.test("textArrayOf() writes the literal of each item's text, as textArray() of the texts would", () => {
  const rows = [{ v: "a" }, { v: null }, { v: `q"` }];
  assert.equal(textArrayOf(rows, (r) => r.v), textArray(["a", null, `q"`]));
  assert.equal(textArrayOf([], () => "x"), "{}");
});
