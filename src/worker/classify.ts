/**
 * Classifying a failed write, once: transient (retry later with a delay) or permanent (the data itself is
 * rejected: dead-letter now). Decided on PostgreSQL's SQLSTATE and postgres.js's connection error codes, never
 * on message text.
 */
import { PayloadError, TransientError } from "../errors.ts";
import { nominalDelay } from "./retry.ts";

/**
 * SQLSTATE classes that mean "the database rejects this data" (PostgreSQL appendix A): cardinality violation
 * (21000: one upsert touching a row twice, i.e. two rows with one key), data exception, integrity constraint
 * violation, program limit exceeded (e.g. a value too large for an index). Retrying cannot help; everything else (connection lost or refused, deadlock, serialization failure, shutdown, a cached plan
 * invalidated by DDL, …) may pass on a later attempt.
 */
const PERMANENT_SQLSTATE_CLASSES = new Set(["21", "22", "23", "54"]);

/** True when retrying the same write later may succeed. */
export function isTransient(error: unknown): boolean {
  if (error instanceof TransientError) return true;
  if (error instanceof PayloadError) return false;
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) {
    return !PERMANENT_SQLSTATE_CLASSES.has(code.slice(0, 2));
  }
  return true; // postgres.js / socket codes (CONNECTION_CLOSED, ECONNREFUSED, …) and unknown failures
}

/**
 * Delay before the next attempt: exponential from `baseMs`, capped at `maxMs`, minus up to 20 % jitter (so that
 * messages failed together do not all come back together). Jitter only shortens: `--retry-max-ms` is a promise.
 */
export function retryDelay(attempt: number, baseMs: number, maxMs: number): number {
  const exact = nominalDelay(attempt, baseMs, maxMs);
  return Math.min(exact, Math.round(exact * (0.8 + Math.random() * 0.2)));
}
