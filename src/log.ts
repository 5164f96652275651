/**
 * One structured logger: JSON lines on stderr (or one readable line per event on a terminal), one object per
 * event, with the role and any bound context. Every string it writes goes through `redact()`: a password in a
 * URL never reaches the log, whoever logged it. Nothing else in nomnom writes to the console except the CLI's
 * own output.
 */
const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type LogLevel = keyof typeof LEVELS;

/** A logger bound to some context fields; `child()` adds more. */
export type Logger = {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
};

/** `user:password@` after `//` or after a comma (the later entries of a NATS server list may omit the scheme). */
const URL_PASSWORD = /((?:\/\/|,\s*)[^:/@,\s]*):(?!\/\/)[^@\s,]*@/g;
/** `?password=`, `&sslpassword=`, `token=`, … in a query string (postgres.js and nats take some as parameters). */
const QUERY_SECRET = /([?&;](?:[\w-]*pass(?:word)?|[\w-]*token|[\w-]*secret))=[^&\s#,]*/gi;

/** Every password in `text` (URLs, comma-separated URL lists, query parameters) replaced by `***`. */
export function redact(text: string): string {
  return text.replace(URL_PASSWORD, "$1:***@").replace(QUERY_SECRET, "$1=***");
}

/** `value` with `redact()` applied to every string in it (objects and arrays are copied, not changed). */
function redactDeep(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return redact(value);
  if (depth > 5 || typeof value !== "object" || value === null) return value;
  if (value instanceof Error) return { name: value.name, message: redact(value.message) };
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v, depth + 1)]));
}

/** JSON lines (for log collectors) or one readable line per event (for a terminal). */
export type LogFormat = "json" | "pretty";

/** Create the root logger writing at or above `level`. */
export function createLogger(
  level: LogLevel,
  context: Record<string, unknown> = {},
  write: (line: string) => void = (line) => console.error(line),
  format: LogFormat = "json",
): Logger {
  const threshold = LEVELS[level];
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[lvl] < threshold) return;
    const record: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, msg: redact(msg) };
    for (const [key, value] of Object.entries({ ...context, ...fields })) record[key] = redactDeep(value);
    write(format === "json" ? JSON.stringify(record) : pretty(record));
  };
  return {
    debug: (msg, fields) => emit("debug", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
    child: (fields) => createLogger(level, { ...context, ...fields }, write, format),
  };
}

function pretty({ time, level, msg, ...fields }: Record<string, unknown>): string {
  const rest = Object.entries(fields).map(([k, v]) =>
    `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`
  );
  return `${String(time).slice(11, 23)} ${String(level).toUpperCase().padEnd(5)} ${msg} ${rest.join(" ")}`
    .trimEnd();
}

/** A logger that drops everything (tests that do not look at logs). */
export const silentLogger: Logger = createLogger("error", {}, () => {});
