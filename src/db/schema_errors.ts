/**
 * Write errors that mean "the table is not what this worker expects" (pure). They are neither the data's fault
 * (dead-lettering would punish every message of the entity) nor passing (retrying burns each message's budget
 * against a table that will not change by itself): the worker holds that entity's messages until the schema
 * matches again (src/db/schema_watch.ts). The SQLSTATEs are classified in src/db/sqlstate.ts; a NOT NULL
 * violation needs the registry, so it is decided here, on the error's table and column fields (never on text).
 */
import type { Registry } from "../registry/types.ts";
import { declaredColumns } from "./schema_diff.ts";
import { classifyDatabaseError, sqlCode } from "./sqlstate.ts";

/**
 * NOT NULL violated (23502): a schema mismatch when the column is one nomnom does not write, or one the entity
 * declares nullable (a NOT NULL added by hand).
 */
const NOT_NULL_VIOLATION = "23502";

type PgError = { table_name?: unknown; column_name?: unknown };

/** True when `error` says the table, not the message, is wrong. */
export function isSchemaMismatch(error: unknown, registry: Registry): boolean {
  if (classifyDatabaseError(error) === "schema_mismatch") return true;
  const { table_name: table, column_name: column } = (error ?? {}) as PgError;
  if (sqlCode(error) !== NOT_NULL_VIOLATION || typeof column !== "string") return false;
  const entity = registry.stored.find((e) => e.storage!.table === table);
  // A required field can only be NULL if a message lacked it, which validation prevents; a column the entity
  // does not know (added by hand, or left from an older entity) fails every insert.
  const declared = entity && declaredColumns(entity).find((c) => c.name === column);
  return !!entity && (!declared || declared.nullable);
}
