/**
 * One structured logger: JSON lines on stderr, one object per event, with the role and any bound context.
 * Nothing else in nomnom writes to the console except the CLI's own output.
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

/** Passwords in connection URLs never reach the log. */
export function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]+):[^@/]*@/, "$1:***@");
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
    const record: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, msg, ...context };
    for (const [key, value] of Object.entries(fields ?? {})) {
      record[key] = value instanceof Error ? { name: value.name, message: value.message } : value;
    }
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
