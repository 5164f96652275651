/**
 * Classifying a failed write, once: transient (retry later with a delay) or permanent (the data itself is
 * rejected: dead-letter now). Decided on PostgreSQL's SQLSTATE and postgres.js's connection error codes, never
 * on message text.
 */
import { PayloadError, TransientError } from "../errors.ts";

/** SQLSTATE classes and codes that say "try again later" (PostgreSQL appendix A). */
const TRANSIENT_SQLSTATE_CLASSES = ["08", "53", "57"]; // connection exception, insufficient resources, operator
const TRANSIENT_SQLSTATES = new Set(["40001", "40P01", "55P03", "55006", "42P01"]); // serialization, deadlock, lock

/** True when retrying the same write later may succeed. */
export function isTransient(error: unknown): boolean {
  if (error instanceof TransientError) return true;
  if (error instanceof PayloadError) return false;
  const code = (error as { code?: unknown })?.code;
  if (typeof code !== "string") return true; // unknown failure: never dead-letter healthy data on a guess
  if (/^[0-9A-Z]{5}$/.test(code)) {
    return TRANSIENT_SQLSTATES.has(code) || TRANSIENT_SQLSTATE_CLASSES.includes(code.slice(0, 2));
  }
  return true; // postgres.js / socket codes: CONNECTION_CLOSED, CONNECT_TIMEOUT, ECONNREFUSED, ...
}

/** Delay before the next attempt: exponential from `baseMs`, capped at `maxMs`, with ±20 % jitter. */
export function retryDelay(attempt: number, baseMs: number, maxMs: number): number {
  const exact = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exact * (0.8 + Math.random() * 0.4));
}
