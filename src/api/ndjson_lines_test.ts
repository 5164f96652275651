import assert from "node:assert/strict";
import { findLines } from "./ndjson_lines.ts";

/** What the batch route did before it kept lines as byte ranges: decode the body, split, drop blank lines. */
function splitLines(bytes: Uint8Array): { text: string; line: number }[] {
  return new TextDecoder().decode(bytes).split(/\r?\n/).map((text, i) => ({ text, line: i + 1 })).filter((
    l,
  ) => l.text.trim() !== "");
}

const bodies = [
  "",
  "\n",
  "{}",
  '{"a":1}\n{"b":2}\n',
  '{"a":1}\r\n\r\n{"b":2}\r\n',
  '  {"a":1}  \n\t\n \u00a0 \n{"b":"é"}',
  "\ufeff{}\n{}",
  "{}\n\ufeff{}\n",
  "{}\r\r\n{}\r",
  "\u2028\n{}\n\u3000",
  "x\ny\n\nz",
];

Deno.test("findLines() finds the lines, and their numbers, that splitting the decoded body finds", () => {
  for (const text of bodies) {
    const bytes = new TextEncoder().encode(text);
    const { start, end, number } = findLines(bytes);
    const found = start.map((s, k) => ({
      text: new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes.subarray(s, end[k])),
      line: number[k],
    }));
    assert.deepEqual(found, splitLines(bytes), JSON.stringify(text));
  }
});
