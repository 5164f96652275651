import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = new URL("../../", import.meta.url).pathname;
const BUNDLE = "src/dashboard/assets/dashboard.bundle.js";

Deno.test("the served dashboard bundle is what `deno task build:dashboard` makes of src/dashboard/ui/ now", async () => {
  // The task's own command line, so that this test and the task cannot drift apart.
  const task: string = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8")).tasks["build:dashboard"];
  const args = task.split(/\s+/);
  assert.ok(args.includes(`--outfile=${BUNDLE}`), `the task writes ${BUNDLE}`);
  const dir = await mkdtemp(join(tmpdir(), "nomnom-bundle-"));
  try {
    const out = join(dir, "dashboard.bundle.js");
    await new Promise<void>((resolve, reject) =>
      execFile(
        join(ROOT, args[0]),
        args.slice(1).map((a) => a === `--outfile=${BUNDLE}` ? `--outfile=${out}` : a),
        { cwd: ROOT },
        (error, _stdout, stderr) => error ? reject(new Error(stderr || String(error))) : resolve(),
      )
    );
    const fresh = await readFile(out, "utf8");
    const committed = await readFile(join(ROOT, BUNDLE), "utf8");
    assert.ok(fresh.length > 1000);
    assert.ok(
      fresh === committed,
      `${BUNDLE} is stale: run \`npx deno task build:dashboard\` and commit it (the binary serves the committed file)`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
