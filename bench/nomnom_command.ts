/**
 * How the bench and the chaos suite start nomnom as a child process: from source on Deno or Bun, or a compiled
 * binary; Bun with the JSC settings the image sets, so that what they measure is what the image runs.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";

const ROOT = new URL("../", import.meta.url).pathname;

/** `deno` and `bun` run main.ts from source; `binary` runs the compiled executable at `binary`. */
export type NomnomRuntime = "deno" | "bun" | "binary";

/** The ENV BUN_JSC_* lines of the Dockerfile, as an environment. */
export async function readBunImageEnv(): Promise<Record<string, string>> {
  const dockerfile = await readFile(join(ROOT, "Dockerfile"), "utf8");
  return Object.fromEntries([...dockerfile.matchAll(/\b(BUN_JSC_\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
}

/** Command, leading arguments and environment that start nomnom on `runtime` (`binary` needs its path). */
export async function nomnomCommand(
  runtime: NomnomRuntime,
  binary?: string,
): Promise<{ command: string; args: string[]; env: Record<string, string | undefined> }> {
  if (runtime === "binary" && !binary) throw new Error("runtime binary needs --binary=<path>");
  const [command, args] = runtime === "binary"
    ? [binary!, []]
    : runtime === "bun"
    ? [join(ROOT, "node_modules/.bin/bun"), ["run", join(ROOT, "main.ts")]]
    : [join(ROOT, "node_modules/.bin/deno"), ["run", "-A", join(ROOT, "main.ts")]];
  const env = runtime === "deno" ? { ...process.env } : { ...await readBunImageEnv(), ...process.env };
  return { command, args, env };
}

/** Command, arguments and environment that run another script of this repository (a baseline) on `runtime`. */
export async function scriptCommand(
  runtime: "deno" | "bun",
  script: string,
): Promise<{ command: string; args: string[]; env: Record<string, string | undefined> }> {
  const { command, args, env } = await nomnomCommand(runtime);
  return { command, args: [...args.slice(0, -1), join(ROOT, script)], env };
}

/**
 * The settings every nomnom process of the bench runs with, in its own `namespace` and database: quiet logs and
 * a stream large enough for the biggest backlog.
 */
export function benchFlags(
  { namespace, entities, natsUrl, databaseUrl }: {
    namespace: string;
    entities: string;
    natsUrl: string;
    databaseUrl: string;
  },
): string[] {
  return [
    `--namespace=${namespace}`,
    `--entities=${entities}`,
    `--nats-url=${natsUrl}`,
    `--database-url=${databaseUrl}`,
    "--host=127.0.0.1",
    "--log-level=warn",
    `--stream-max-bytes=${4 * 1024 ** 3}`,
    `--dlq-max-bytes=${64 * 1024 ** 2}`,
  ];
}
