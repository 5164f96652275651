/**
 * `deno task readme`: rewrite README's Configuration table from the settings declaration (src/settings.ts), so
 * that adding a setting never means editing Markdown by hand. src/readme_test.ts fails until this was run.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { renderSettingsTable } from "../src/config.ts";

const path = new URL("../README.md", import.meta.url);
const lines = readFileSync(path, "utf8").split("\n");
const start = lines.findIndex((l) => l.startsWith("| flag "));
let end = start;
while (end < lines.length && lines[end].startsWith("|")) end++;
if (start < 0) throw new Error("README.md has no settings table (a line starting with '| flag ')");
lines.splice(start, end - start, ...renderSettingsTable().split("\n"));
writeFileSync(path, lines.join("\n"));
