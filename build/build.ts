/**
 * `deno task build` / `deno task build:bun`: run the compiler command given as arguments (as written in
 * deno.json, the one place its flags live) with its output (`--outfile X` / `--output X`) redirected to a
 * temporary file beside X, and rename that over X only when the compiler succeeded. A failed or interrupted
 * build so leaves a working ./nomnom alone, and `deno compile` (which refuses to overwrite a file it did not
 * write, such as a Bun build) can replace whatever binary is there.
 *
 *     deno run -A build/build.ts <compiler> <args…> --outfile <target> [<args…>]
 */
import { spawnSync } from "node:child_process";
import { renameSync, rmSync } from "node:fs";
import process from "node:process";

const command = process.argv.slice(2);
const at = command.findIndex((word) => word === "--outfile" || word === "--output");
if (command.length === 0 || at === -1 || at === command.length - 1) {
  console.error("usage: build.ts <compiler> <args…> --outfile|--output <target> [<args…>]");
  process.exit(2);
}
const target = command[at + 1];
const temporary = `${target}.build-${process.pid}`;
command[at + 1] = temporary;
const result = spawnSync(command[0], command.slice(1), { stdio: "inherit" });
if (result.status === 0) {
  renameSync(temporary, target);
} else {
  rmSync(temporary, { force: true });
  console.error(`build failed: ${target} was left as it was`);
  process.exit(result.status ?? 1);
}
