/**
 * Reading a table's shape from the PostgreSQL catalog, in the form `diffTable()` compares (src/db/schema_diff.ts).
 * Reads only: no lock beyond the catalog's own, so a start with nothing to change never waits on writers.
 */
import { sqlIdent } from "../registry/names.ts";
import type { Sql } from "./connect.ts";
import type { LiveTable } from "./schema_diff.ts";

/** The table `name` of the connection's current schema, or undefined when there is none. */
export async function readTable(sql: Sql, name: string): Promise<LiveTable | undefined> {
  const [found] = await sql`SELECT to_regclass(${sqlIdent(name)})::oid AS oid`;
  if (!found?.oid) return undefined;
  const oid = found.oid;
  const columns = await sql`
    SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
           (a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '') AS has_default
    FROM pg_attribute a
    WHERE a.attrelid = ${oid} AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attnum`;
  const indexes = await sql`
    SELECT c.relname AS name, i.indisunique AS is_unique,
           -- an expression index hides its expressions from indkey (attnum 0), and INCLUDE columns are in indkey
           -- but not in the key: neither can stand for UNIQUE (key columns) as an ON CONFLICT arbiter; nor can a
           -- partial index (inference needs its WHERE repeated) or an invalid one (a failed CREATE INDEX
           -- CONCURRENTLY)
           (i.indpred IS NULL AND i.indisvalid AND i.indexprs IS NULL AND i.indnkeyatts = i.indnatts) AS usable,
           NOT i.indimmediate AS deferrable, con.conname AS constraint_name,
           ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n) AS columns
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
    WHERE i.indrelid = ${oid}`;
  return {
    columns: columns.map((c) => ({
      name: c.name,
      type: c.type,
      notNull: c.not_null,
      hasDefault: c.has_default,
    })),
    uniqueIndexes: indexes.filter((ix) => ix.is_unique).map((ix) => ({
      name: ix.name,
      columns: ix.columns,
      usable: ix.usable,
      deferrable: ix.deferrable,
      constraint: ix.constraint_name ?? undefined,
    })),
    indexes: indexes.map((ix) => ix.name),
  };
}
