/**
 * argv → which command, its arguments and the resolved Config; or a text to print (`--help`, `help`,
 * `--version`). Every mistake is a ConfigError that names the flag, action or command and, when one is close,
 * the name that was probably meant.
 */
import { parseArgs } from "node:util";
import { type Config, describeSetting, type ReadFile, resolveConfig } from "../config.ts";
import { ConfigError } from "../errors.ts";
import { listSettings, type Setting } from "../settings.ts";
import { suggest } from "../suggest.ts";
import { VERSION } from "../version.ts";
import type { Command } from "./command.ts";
import { COMMANDS } from "./commands.ts";

/** The outcome: a command to run, or text to print and exit 0. */
export type CommandLine =
  | { command: Command; args: unknown; config: Config }
  | { text: string };

type Options = Record<string, { type: "string" | "boolean"; short?: string }>;

const COLUMN = 32;
const GLOBAL = { help: { type: "boolean", short: "h" }, version: { type: "boolean" } } as const;

/** Parse argv (without the program name) and env. */
export function parseCommandLine(
  argv: string[],
  env: Record<string, string | undefined>,
  read?: ReadFile,
): CommandLine {
  const first = firstPositional(argv);
  if (first === "help") return { text: helpFor(argv.filter((a) => !a.startsWith("-"))[1]) };
  const command = first === undefined ? commandNamed("run") : commandNamed(first);
  const options = optionsOf(command);
  checkFlagNames(argv, options, command);
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}. Run "nomnom ${command.name} --help".`);
  }
  const { values, positionals } = parsed;
  if (values.version) return { text: `nomnom ${VERSION}` };
  if (values.help) return { text: first === undefined ? overview() : commandHelp(command) };
  const rest = first === undefined ? positionals : positionals.slice(1);
  const own: Record<string, string | boolean | undefined> = {};
  for (const name of Object.keys(command.flags ?? {})) own[name] = values[name];
  const args = command.parse ? command.parse(rest, own) : noArguments(command, rest);
  const config = resolveConfig(values as Record<string, string | undefined>, env, read);
  return { command, args, config };
}

function noArguments(command: Command, rest: string[]): undefined {
  if (rest.length > 0) {
    throw new ConfigError(`"nomnom ${command.name}" takes no argument, not "${rest[0]}".`);
  }
  return undefined;
}

/**
 * The command name: the first positional, read with every flag any command knows (so values are skipped). A word
 * right after a flag no command knows is taken for that flag's value (`nomnom --prot 8080`), so the flag is what
 * gets named, not "8080" as an unknown command.
 */
function firstPositional(argv: string[]): string | undefined {
  const all: Options = { ...GLOBAL };
  for (const c of COMMANDS) Object.assign(all, optionsOf(c));
  const { tokens } = parseArgs({
    args: argv,
    options: all,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  for (const [i, token] of tokens.entries()) {
    if (token.kind !== "positional") continue;
    const before = tokens[i - 1];
    if (before?.kind === "option" && !(before.name in all) && before.value === undefined) continue;
    return token.value;
  }
  return undefined;
}

function commandNamed(name: string): Command {
  const command = COMMANDS.find((c) => c.name === name);
  if (command) return command;
  const names = [...COMMANDS.map((c) => c.name), "help"];
  throw new ConfigError(
    `Unknown command "${name}"${suggest(name, names) || "."} Commands: ${names.join(", ")}.`,
  );
}

function settingsOf(command: Command): Setting[] {
  const all = listSettings().map((s) => s.setting);
  return command.settings === "all" ? all : all.filter((s) => command.settings.includes(s.flag as never));
}

function optionsOf(command: Command): Options {
  const options: Options = { ...GLOBAL };
  for (const s of settingsOf(command)) options[s.flag] = { type: "string" };
  for (const [name, flag] of Object.entries(command.flags ?? {})) options[name] = { type: flag.type };
  return options;
}

/** An unknown flag is named with the closest one this command takes; a setting of another command says so. */
function checkFlagNames(argv: string[], options: Options, command: Command): void {
  const { tokens } = parseArgs({ args: argv, options, allowPositionals: true, strict: false, tokens: true });
  for (const token of tokens) {
    if (token.kind !== "option" || token.name in options) continue;
    const flag = token.rawName;
    const elsewhere = COMMANDS.filter((c) => token.name in optionsOf(c)).map((c) => `nomnom ${c.name}`);
    if (elsewhere.length > 0) {
      throw new ConfigError(
        `${flag} does not apply to "nomnom ${command.name}" (it is a flag of ${elsewhere.join(", ")}). ` +
          `Run "nomnom ${command.name} --help" for its flags.`,
      );
    }
    const hint = flag.startsWith("--") ? suggest(token.name, Object.keys(options), "--") : "";
    throw new ConfigError(
      `Unknown flag ${flag} for "nomnom ${command.name}"${hint || "."} Run "nomnom ${command.name} --help".`,
    );
  }
}

/** `nomnom help [command]`. */
function helpFor(name: string | undefined): string {
  return name === undefined ? overview() : commandHelp(commandNamed(name));
}

/** The overview: every command with its summary, then the default command's flags. */
function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.usage.length)) + 2;
  return [
    `nomnom ${VERSION}: declare entities in YAML, ingest them over HTTP into NATS JetStream and PostgreSQL.`,
    "",
    "Usage: nomnom <command> [flags]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.usage.padEnd(width)}${c.summary}`),
    `  ${"help [command]".padEnd(width)}this overview, or a command's flags`,
    "",
    `"nomnom <command> --help" lists that command's flags; "nomnom --version" prints the version.`,
    "",
    "Settings of run, the default command (flags win over env, env over defaults):",
    ...settingLines(commandNamed("run")),
  ].join("\n");
}

/** A command's help: usage, summary, its own flags, the settings it reads. */
export function commandHelp(command: Command): string {
  const own = Object.entries(command.flags ?? {}).map(([name, f]) =>
    `  ${(`--${name}` + (f.type === "string" ? " <value>" : "")).padEnd(COLUMN)}${f.help}`
  );
  const settings = settingLines(command);
  return [
    `Usage: nomnom ${command.usage} [flags]`,
    "",
    command.description ?? `${command.summary[0].toUpperCase()}${command.summary.slice(1)}.`,
    ...(own.length > 0 ? ["", "Flags:", ...own] : []),
    ...(settings.length > 0 ? ["", "Settings (flags win over env, env over defaults):", ...settings] : []),
    `  ${"-h, --help".padEnd(COLUMN)}show this help`,
  ].join("\n");
}

/** The lines of `--help` for the settings a command reads. */
function settingLines(command: Command): string[] {
  return settingsOf(command).map((s) => {
    const row = describeSetting(s);
    const env = row.envFile ? `env ${row.env} or a file named by ${row.envFile}` : `env ${row.env}`;
    const fallback = row.default === "—" ? "" : `, default ${row.default}`;
    return `  ${(row.flag + " <value>").padEnd(COLUMN)}${row.help} (${env}${fallback})`;
  });
}
