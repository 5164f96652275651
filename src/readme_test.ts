import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describeSettings } from "./config.ts";

Deno.test("README's configuration table lists every flag with its env twin, default and meaning", async () => {
  const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
  const rows = new Map(
    readme.split("\n").filter((l) => l.startsWith("| `--")).map((l) => {
      const cells = l.split("|").slice(1, -1).map((c) => c.trim().replaceAll("`", ""));
      return [cells[0], cells] as const;
    }),
  );
  for (const s of describeSettings()) {
    const row = rows.get(s.flag);
    assert.ok(row, `${s.flag} is in the README`);
    assert.deepEqual(row, [s.flag, s.env, s.default, s.help], `${s.flag}'s row is up to date`);
  }
  assert.equal(rows.size, describeSettings().length, "no flag in the README that nomnom does not know");
});
