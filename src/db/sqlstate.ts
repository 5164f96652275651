/**
 * What a PostgreSQL failure means, decided once for every caller: the API (503 or 500), the worker (retry or
 * dead-letter) and the migration (try again or stop). By SQLSTATE (PostgreSQL appendix A, "Error Codes") and by
 * the codes postgres.js and the socket give a connection that failed (postgres.js README, "Connection errors").
 */

/**
 * - `unavailable`: the server cannot be reached or does not take connections now; it restarts or fails over in
 *   seconds.
 * - `lock_conflict`: a deadlock or a lock that could not be had; the same statement may pass when tried again.
 * - `schema_mismatch`: a table, column or column type is not what the statement expects (another version's
 *   migration, or a table changed by hand).
 * - `permanent`: the database rejects this data; trying again cannot help.
 * - `transient`: any other SQLSTATE (serialization failure, cancelled statement, a cached plan invalidated by DDL,
 *   …): may pass on a later attempt.
 */
export type DatabaseFailure = "unavailable" | "lock_conflict" | "schema_mismatch" | "permanent" | "transient";

/**
 * Class 08 connection exception; 57P01–57P03 admin/crash shutdown, cannot connect now; 53300 too many
 * connections; 55000, which is what a database that does not accept connections answers a new one
 * (ALLOW_CONNECTIONS false, a database being taken down).
 */
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[123]|53300|55000)$/;
/** postgres.js's own connection codes (CONNECTION_CLOSED, CONNECT_TIMEOUT, …) and socket errors. */
const UNAVAILABLE_CLIENT = /^CONNECT(ION)?_/;
const UNAVAILABLE_SOCKET = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
]);
/** 40P01 deadlock detected, 55P03 lock not available (lock_timeout). */
const LOCK_CONFLICT = new Set(["40P01", "55P03"]);
/**
 * 42703 undefined column, 42P01 undefined table, 42804 datatype mismatch, 42P10 no unique index matching ON
 * CONFLICT (the key constraint was dropped), 42809 wrong object type (a view where the table was), 428C9 a
 * generated column written to.
 */
const SCHEMA_MISMATCH = new Set(["42703", "42P01", "42804", "42P10", "42809", "428C9"]);
/**
 * Classes of "the database rejects this data": 21 cardinality violation (one upsert touching a row twice: two
 * rows with one key), 22 data exception, 23 integrity constraint violation, 54 program limit exceeded (a value
 * too large for an index).
 */
const PERMANENT_CLASSES = new Set(["21", "22", "23", "54"]);
const SQLSTATE = /^[0-9A-Z]{5}$/;

/** The kind of a database failure; undefined for an error that carries no code the database or its client gave. */
export function classifyDatabaseError(error: unknown): DatabaseFailure | undefined {
  const code = sqlCode(error);
  if (code === undefined) return undefined;
  if (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_CLIENT.test(code) || UNAVAILABLE_SOCKET.has(code)) {
    return "unavailable";
  }
  if (!SQLSTATE.test(code)) return undefined;
  if (LOCK_CONFLICT.has(code)) return "lock_conflict";
  if (SCHEMA_MISMATCH.has(code)) return "schema_mismatch";
  return PERMANENT_CLASSES.has(code.slice(0, 2)) ? "permanent" : "transient";
}

/** The `code` of a database (or socket) error, if it has one. */
export function sqlCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Describe a failure for people: the SQLSTATE and the server's detail when there are. */
export function describeError(error: Error): string {
  const code = sqlCode(error);
  const detail = (error as { detail?: unknown }).detail;
  return `${code && SQLSTATE.test(code) ? `[${code}] ` : ""}${error.message}${detail ? ` (${detail})` : ""}`;
}
