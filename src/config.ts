/**
 * Resolves the deployment settings of src/settings.ts into a Config: flags > environment > defaults, each value
 * validated once. Nothing else in nomnom reads the environment. A secret setting may instead come from a file
 * named by `<ENV>_FILE` (how Kubernetes and Docker mount secrets); that read is the only I/O here, and it is
 * passed in so that tests stay pure.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { z } from "zod";
import { ConfigError } from "./errors.ts";
import { rememberSecrets, urlSecrets } from "./log.ts";
import { listSettings, type Resolved, type Setting, SETTINGS } from "./settings.ts";
import { suggest } from "./suggest.ts";

/** The resolved configuration every module receives (or a slice of): the shape of the settings tree. */
export type Config = Resolved<typeof SETTINGS>;

/** Reads a secret file; throws (with a `code`) when it cannot. */
export type ReadFile = (path: string) => string;

const readFile: ReadFile = (path) => readFileSync(path, "utf8");

/** The env variable that names a file holding a secret setting's value. */
export const fileEnv = (setting: Setting): string => `${setting.env}_FILE`;

/**
 * Parse argv made only of setting flags (no command, no positionals) and env into a Config. Throws a ConfigError
 * naming the flag or variable. For tests and tools; the command line goes through src/cli/parse.ts.
 */
export function loadConfig(
  argv: string[],
  env: Record<string, string | undefined>,
  read: ReadFile = readFile,
): Config {
  const options = Object.fromEntries(listSettings().map(({ setting }) => [setting.flag, { type: "string" }]));
  try {
    const { values } = parseArgs({ args: argv, options: options as Record<string, { type: "string" }> });
    return resolveConfig(values as Record<string, string | undefined>, env, read);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const unknown = /Unknown option '--([^']+)'/.exec((error as Error).message)?.[1];
    const hint = unknown ? suggest(unknown, listSettings().map((s) => s.setting.flag), "--") : "";
    throw new ConfigError(`${(error as Error).message}${hint}.`);
  }
}

/** Resolve every setting from flag values (by flag name), env and `<ENV>_FILE` files; defaults fill the rest. */
export function resolveConfig(
  flags: Record<string, string | undefined>,
  env: Record<string, string | undefined>,
  read: ReadFile = readFile,
): Config {
  const config: Record<string, unknown> = {};
  for (const { path, setting } of listSettings()) {
    const value = resolveOne(setting, flags[setting.flag], env, read);
    let node = config;
    for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
    node[path.at(-1)!] = value;
  }
  checkCombinations(config as Config);
  return config as Config;
}

/** Settings that mean nothing alone: an error rather than a limit the operator believes in but that is off. */
function checkCombinations(config: Config): void {
  const { rate, burst, trustedProxies } = config.rateLimit;
  if (rate === undefined && burst !== undefined) {
    throw new ConfigError(
      "--rate-limit-burst needs --rate-limit (messages per second): set both, or neither.",
    );
  }
  if (rate === undefined && trustedProxies !== undefined) {
    throw new ConfigError(
      "--trusted-proxies only tells --rate-limit who the client is: set --rate-limit, or unset --trusted-proxies.",
    );
  }
}

function resolveOne(
  setting: Setting,
  fromFlag: string | undefined,
  env: Record<string, string | undefined>,
  read: ReadFile,
): unknown {
  const fromEnv = env[setting.env] === "" ? undefined : env[setting.env];
  const fileVar = fileEnv(setting);
  const file = setting.secret && env[fileVar] !== "" ? env[fileVar] : undefined;
  if (fromEnv !== undefined && file !== undefined) {
    throw new ConfigError(`Set ${setting.env} or ${fileVar}, not both: they are the same setting.`);
  }
  let raw = fromFlag ?? fromEnv;
  let source = fromFlag !== undefined ? `--${setting.flag}` : `${setting.env} (env)`;
  if (raw === undefined && file !== undefined) {
    source = `${fileVar}="${file}"`;
    raw = readSecret(fileVar, file, read);
  }
  const result = setting.schema.safeParse(raw);
  if (result.success) {
    // The logger hides these by value from now on, even where no URL pattern would catch them.
    // A URL's secrets are its userinfo and query; any other secret value is a secret as a whole.
    if (setting.secret && typeof result.data === "string") {
      rememberSecrets(...(result.data.includes("://") ? urlSecrets(result.data) : [result.data]));
    }
    return result.data;
  }
  const shown = setting.secret || raw === undefined ? "" : `=${JSON.stringify(raw)}`;
  const hidden = setting.secret ? " (value not shown: it may hold a password)" : "";
  throw new ConfigError(`Invalid ${source}${shown}: ${result.error.issues[0].message}${hidden}.`);
}

/** The trimmed contents of a secret file (a mounted Secret ends in a newline); errors never show the contents. */
function readSecret(variable: string, path: string, read: ReadFile): string {
  let text: string;
  try {
    text = read(path);
  } catch (error) {
    const code = (error as { code?: string }).code ?? (error as Error).name;
    throw new ConfigError(`Cannot read ${variable}="${path}" (${code}): it must name a readable file.`);
  }
  const value = text.trim();
  if (value === "") throw new ConfigError(`${variable}="${path}" is empty: it must hold the value.`);
  return value;
}

/** One setting as `--help` and README show it. */
export type SettingRow = { flag: string; env: string; envFile?: string; default: string; help: string };

/** Every setting with its flag, env twin (and file twin) and default: the source of `--help` and README's table. */
export function describeSettings(): SettingRow[] {
  return listSettings().map(({ setting }) => describeSetting(setting));
}

/** One setting's row. */
export function describeSetting(s: Setting): SettingRow {
  const fallback = (s.schema as z.ZodType).parse(undefined);
  return {
    flag: `--${s.flag}`,
    env: s.env,
    ...(s.secret ? { envFile: fileEnv(s) } : {}),
    default: fallback === undefined ? "—" : String(fallback),
    help: s.help,
  };
}

/** README's Configuration table (Markdown, aligned the way `deno fmt` aligns it). */
export function renderSettingsTable(): string {
  const code = (text: string) => `\`${text}\``;
  const rows = describeSettings().map((s) => [
    code(s.flag),
    s.envFile ? `${code(s.env)}, ${code(s.envFile)}` : code(s.env),
    code(s.default),
    s.help,
  ]);
  const header = ["flag", "env", "default", "meaning"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
