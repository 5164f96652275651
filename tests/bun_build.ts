/**
 * The Bun binary as `deno task build:bun` builds it: the flags are read from that task in deno.json (the one
 * place they are written), so the tests, the Dockerfile check and the task cannot drift apart.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { ROOT, runChild } from "./child.ts";

/** `bun build …` arguments of the build:bun task, without its `--outfile <path>`. */
export async function bunBuildArgs(): Promise<string[]> {
  const tasks = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8")).tasks as Record<string, string>;
  // The task runs bun through build/build.ts (temporary file, then rename): the bun command starts at bun.
  const all = tasks["build:bun"].split(/\s+/);
  const words = all.slice(all.findIndex((w) => w.endsWith("/bun")));
  const at = words.indexOf("--outfile");
  if (words[1] !== "build" || at === -1) {
    throw new Error(`deno.json build:bun is not "bun build … --outfile …"`);
  }
  return words.slice(1, at).concat(words.slice(at + 2));
}

/** Build the binary to `outfile`; fails with bun's output when the build does. */
export async function buildBunBinary(outfile: string): Promise<void> {
  const args = [...await bunBuildArgs(), "--outfile", outfile];
  // Through build/build.ts, as the task runs it.
  const build = await runChild(process.execPath, [
    "run",
    "-A",
    "build/build.ts",
    join(ROOT, "node_modules/.bin/bun"),
    ...args,
  ]);
  assert.equal(build.code, 0, `bun ${args.join(" ")}:\n${build.stderr}`);
}
