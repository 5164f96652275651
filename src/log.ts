/**
 * One structured logger: JSON lines on stderr (or one readable line per event on a terminal), one object per
 * event, with the role and any bound context. Every string it writes goes through `redact()`: a password in a
 * URL never reaches the log, whoever logged it, and neither does a row value a database error carries
 * (`hideValues()`, src/db/error_values.ts: `Failing row contains (…)`, `Key (id)=(…)`). Nothing else in nomnom writes to the console except the CLI's
 * own output.
 */
import { hideValues } from "./db/error_values.ts";

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

/** A scheme (`nats://`, `tls://`, `postgres://`, …): where a URL, and so a possible userinfo, starts. */
const SCHEME = /[a-z][a-z0-9+.-]*:\/\//gi;
/** Schemes whose userinfo without a colon is a token (NATS), not a user name (PostgreSQL). */
const TOKEN_SCHEMES = /^(?:nats|tls|ws|wss):\/\/$/i;
/** `user:password@` after a comma: the later entries of a NATS server list may omit the scheme. */
const BARE_PASSWORD = /(,\s*[^:/@,\s]*):(?!\/\/)[^@\s,]*@/g;
/** `?password=`, `&sslpassword=`, `token=`, … in a query string (postgres.js and nats take some as parameters). */
const QUERY_SECRET = /([?&;](?:[\w-]*pass(?:word)?|[\w-]*token|[\w-]*secret))=[^&\s#,]*/gi;

/**
 * Secret values nomnom was configured with (passwords, tokens): replaced wherever they appear, whatever their
 * characters, because a password with a space or an unencoded comma defeats any URL pattern.
 */
const knownSecrets = new Set<string>();

/** Remember `values` as secrets: `redact()` hides them (and their URL-encoded forms) from then on. */
export function rememberSecrets(...values: string[]): void {
  for (const value of values) {
    // A one- or two-character "secret" would shred every log line; URL patterns still hide it in URLs.
    if (value.length < 3) continue;
    knownSecrets.add(value);
    knownSecrets.add(encodeURIComponent(value));
    try {
      knownSecrets.add(decodeURIComponent(value));
    } catch { /* not URL-encoded: nothing more to remember */ }
  }
}

/**
 * The passwords and tokens in the userinfo of every URL in `text` (a comma-separated NATS server list too).
 * The userinfo ends at the LAST `@` of its entry, so a password may itself hold `@`, `:` or a comma.
 */
export function urlSecrets(text: string): string[] {
  return userinfos(text).map((u) => u.secret).filter((s) => s !== "");
}

type Userinfo = { start: number; end: number; user: string; secret: string; token: boolean };

function userinfos(text: string): Userinfo[] {
  const found: Userinfo[] = [];
  const starts = [...text.matchAll(SCHEME)].map((m) => ({ at: m.index!, scheme: m[0] }));
  starts.forEach(({ at, scheme }, i) => {
    const from = at + scheme.length;
    // An entry runs to the next URL (a server list) or to whitespace: a password never spans two entries.
    let to = i + 1 < starts.length ? starts[i + 1].at : text.length;
    const space = text.slice(from, to).search(/\s/);
    if (space >= 0) to = from + space;
    const entry = text.slice(from, to);
    const atSign = entry.lastIndexOf("@");
    if (atSign < 0) return;
    const info = entry.slice(0, atSign);
    const colon = info.indexOf(":");
    const token = colon < 0 && TOKEN_SCHEMES.test(scheme);
    if (colon < 0 && !token) return;
    found.push({
      start: from,
      end: from + atSign,
      user: token ? "" : info.slice(0, colon),
      secret: token ? info : info.slice(colon + 1),
      token,
    });
  });
  return found;
}

/** Every password and token in `text` (URLs, URL lists, query parameters, remembered secrets) replaced by `***`. */
export function redact(text: string): string {
  let out = text;
  for (const u of userinfos(text).reverse()) {
    out = out.slice(0, u.start) + (u.token ? "***" : `${u.user}:***`) + out.slice(u.end);
  }
  out = out.replace(BARE_PASSWORD, "$1:***@").replace(QUERY_SECRET, "$1=***");
  // Longest first, so a secret containing another is replaced whole.
  for (const secret of [...knownSecrets].sort((a, b) => b.length - a.length)) {
    out = out.replaceAll(secret, "***");
  }
  return out;
}

/** What a log line may show of `text`: no secret (`redact()`), no row value (`hideValues()`). */
const clean = (text: string) => hideValues(redact(text));

/** `value` with `clean()` applied to every string in it (objects and arrays are copied, not changed). */
function redactDeep(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return clean(value);
  if (depth > 5 || typeof value !== "object" || value === null) return value;
  if (value instanceof Error) return { name: value.name, message: clean(value.message) };
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
    const record: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, msg: clean(msg) };
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
