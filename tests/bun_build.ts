/**
 * The Bun binary as `deno task build:bun` builds it: the flags are read from that task in deno.json (the one
 * place they are written), so the tests, the Dockerfile check and the task cannot drift apart.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ROOT, runChild } from "./child.ts";

/** `bun build …` arguments of the build:bun task, without its `--outfile <path>`. */
export async function bunBuildArgs(): Promise<string[]> {
  const tasks = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8")).tasks as Record<string, string>;
  const words = tasks["build:bun"].split(/\s+/);
  const at = words.indexOf("--outfile");
  if (words[1] !== "build" || at === -1) {
    throw new Error(`deno.json build:bun is not "bun build … --outfile …"`);
  }
  return words.slice(1, at).concat(words.slice(at + 2));
}

/** Build the binary to `outfile`; fails with bun's output when the build does. */
export async function buildBunBinary(outfile: string): Promise<void> {
  const args = [...await bunBuildArgs(), "--outfile", outfile];
  const build = await runChild(join(ROOT, "node_modules/.bin/bun"), args);
  assert.equal(build.code, 0, `bun ${args.join(" ")}:\n${build.stderr}`);
}
