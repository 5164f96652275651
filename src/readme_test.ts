import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { renderSettingsTable } from "./config.ts";

Deno.test("README's configuration table is the one the settings declaration renders", async () => {
  const lines = (await readFile(new URL("../README.md", import.meta.url), "utf8")).split("\n");
  const start = lines.findIndex((l) => l.startsWith("| flag "));
  assert.ok(start >= 0, "README has the settings table");
  let end = start;
  while (lines[end]?.startsWith("|")) end++;
  assert.equal(
    lines.slice(start, end).join("\n"),
    renderSettingsTable(),
    "run `deno task readme` to regenerate README's table",
  );
});
