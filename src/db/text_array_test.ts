import assert from "node:assert/strict";
import { textArray } from "./text_array.ts";

Deno.test("textArray() quotes every element, escapes backslashes and quotes, and writes null as NULL", () => {
  assert.equal(textArray([]), "{}");
  assert.equal(textArray(["a", null, "NULL", ""]), `{"a",NULL,"NULL",""}`);
  assert.equal(textArray([`say "hi"`, "back\\slash", "{,} "]), `{"say \\"hi\\"","back\\\\slash","{,} "}`);
});
