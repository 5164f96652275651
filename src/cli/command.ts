/**
 * What a command is: a name, a one-line summary, its own flags (invocation arguments, no env twins), the
 * deployment settings it reads (their flags are accepted, their env vars always apply) and `run`. The table of
 * commands is src/cli/commands.ts; parsing and help are src/cli/parse.ts.
 */
import { existsSync } from "node:fs";
import process from "node:process";
import type { Config } from "../config.ts";
import { ConfigError } from "../errors.ts";
import { createLogger, type Logger } from "../log.ts";
import { createRegistry, loadRegistry } from "../registry/load.ts";
import type { Registry } from "../registry/types.ts";
import type { SettingFlag } from "../settings.ts";

/** A command's own flag: `--name` (string or boolean), shown in its `--help`. */
export type FlagSpec = { type: "string" | "boolean"; help: string };

/** Parsed values of a command's own flags. */
export type FlagValues = Record<string, string | boolean | undefined>;

/** What `run` receives. */
export type CommandContext<A> = { config: Config; args: A; out: (line: string) => void };

/** One row of the command table. */
export type Command<A = unknown> = {
  name: string;
  /** What follows `nomnom` in the usage line, e.g. `dlq <action> [id]`. */
  usage: string;
  /** One short line, for `nomnom help`. */
  summary: string;
  /** More about it, for `nomnom <command> --help`. */
  description?: string;
  /** Flags of this command only (not deployment settings). */
  flags?: Record<string, FlagSpec>;
  /** The deployment settings this command reads: their flags are accepted and listed in its `--help`. */
  settings: readonly SettingFlag[] | "all";
  /** Turn positionals and the command's own flags into its arguments; throw ConfigError on bad input. */
  parse?(positionals: string[], flags: FlagValues): A;
  run(context: CommandContext<A>): Promise<number>;
};

/** Type a command with its own argument type, and store it in the table as `Command`. */
export function defineCommand<A = undefined>(command: Command<A>): Command {
  return command as Command;
}

/** The error for a positional argument a command does not take. */
export function unexpected(command: string, extra: string[]): ConfigError {
  return new ConfigError(`"nomnom ${command}" does not take "${extra[0]}". Run "nomnom ${command} --help".`);
}

/** The logger of a command or role: JSON lines unless stderr is a terminal (or --log-format says). */
export function createCliLogger(config: Config, role: string): Logger {
  const format = config.logFormat ?? (process.stderr.isTTY ? "pretty" : "json");
  return createLogger(config.logLevel, { role }, undefined, format);
}

/**
 * The entities folder; a compiled binary run where there is no ./entities uses the example entities it
 * carries (set by its entry point, build/bun_main.ts).
 */
export async function loadEntities(dir: string): Promise<Registry> {
  const embedded =
    (globalThis as { __NOMNOM_ENTITIES__?: { path: string; text: string }[] }).__NOMNOM_ENTITIES__;
  if (embedded && dir === "entities" && !existsSync(dir)) return createRegistry(embedded);
  return await loadRegistry(dir);
}
