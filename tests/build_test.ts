/** `deno task build` and `build:bun` (build/build.ts): a build that fails leaves the existing binary alone. */
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { ROOT, runChild } from "./child.ts";
import { createTempDir } from "./harness.ts";

/** The `build` task's command, with its output pointed at `target`. */
async function build(target: string) {
  const tasks = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8")).tasks as Record<string, string>;
  const words = tasks.build.split(/\s+/);
  const command = words.slice(words.indexOf("build/build.ts") + 1);
  command[command.indexOf("--output") + 1] = target;
  return await runChild(process.execPath, ["run", "-A", "build/build.ts", ...command]);
}

Deno.test("deno task build replaces a binary it did not write, and a failed build leaves it as it was", async () => {
  await using dir = await createTempDir("nomnom-build-");
  // Stands for a Bun build: `deno compile --output nomnom` refuses to overwrite a file it did not write.
  const target = join(dir.path, "nomnom");
  await writeFile(target, "the binary that works\n", { mode: 0o755 });
  const r = await build(target);
  assert.doesNotMatch(r.stderr, /cannot be overwritten/);
  if (r.code === 0) {
    assert.notEqual(await readFile(target, "utf8").catch(() => ""), "the binary that works\n");
  } else {
    // Offline, deno compile cannot download its runtime: the build fails, and nothing else changes.
    assert.match(r.stderr, /build failed: .*nomnom was left as it was/);
    assert.equal(await readFile(target, "utf8"), "the binary that works\n");
    assert.deepEqual(await readdir(dir.path), ["nomnom"], "no half-written file is left behind");
  }
  const usage = await runChild(process.execPath, ["run", "-A", "build/build.ts", "true"]);
  assert.equal(usage.code, 2, "a command without its output flag is refused");
});
