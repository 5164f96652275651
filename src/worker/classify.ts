/**
 * Retry or dead-letter: the worker's reading of a failure (pure). The database's failures are classified once, in
 * src/db/sqlstate.ts; here only what the worker does with each kind.
 */
import { PayloadError, TransientError } from "../errors.ts";
import { classifyDatabaseError } from "../db/sqlstate.ts";

/**
 * True when retrying the same write later may succeed: everything but data the database rejects (`permanent`)
 * and invalid payloads. A schema mismatch is retried here; the batch processor asks the schema watch first,
 * which holds the entity instead (src/db/schema_errors.ts). Failures without a code (a timeout, a bug) are retried too, within the retry budget.
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof TransientError) return true;
  if (error instanceof PayloadError) return false;
  return classifyDatabaseError(error) !== "permanent";
}
