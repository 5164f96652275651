/**
 * The migration derived from the registry: nomnom's own schema and status table, then a table, its UNIQUE
 * constraint on the entity's key and its indexes for every stored entity (root, reference and derived).
 * Idempotent, serialized by an advisory lock so that workers starting together do not race, and outside the
 * data transactions.
 */
import type { Logger } from "../log.ts";
import { PG_TYPES } from "../registry/field_types.ts";
import { sqlIdent } from "../registry/names.ts";
import type { Entity, Registry } from "../registry/types.ts";
import type { Sql } from "./connect.ts";
import {
  createTableStatements,
  DERIVED_META_COLUMNS,
  keyConstraintName,
  META_COLUMNS,
  STATUS_TABLE_STATEMENTS,
} from "./statements.ts";

const MIGRATION_LOCK = 0x6e6f6d6e; // "nomn"

/** Create or upgrade every table the registry needs. Returns a line per change made. */
export async function migrate(sql: Sql, registry: Registry, log: Logger): Promise<string[]> {
  const changes: string[] = [];
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    for (const statement of STATUS_TABLE_STATEMENTS) await tx.unsafe(statement);
    for (const entity of registry.stored) {
      const table = entity.storage!.table;
      const [{ exists }] = await tx`SELECT to_regclass(${sqlIdent(table)}) IS NOT NULL AS exists`;
      for (const statement of createTableStatements(entity)) await tx.unsafe(statement);
      if (!exists) {
        changes.push(`created table ${table} (${entity.name})`);
        continue;
      }
      changes.push(...await upgradeTable(tx as unknown as Sql, entity));
    }
  });
  for (const change of changes) log.info("migration", { change });
  return changes;
}

/** Bring an existing table up to the entity: add missing columns, and the key constraint if it is missing. */
async function upgradeTable(tx: Sql, entity: Entity): Promise<string[]> {
  const s = entity.storage!;
  const changes: string[] = [];
  const present = new Set(
    (await tx`SELECT column_name FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name = ${s.table}`).map((r) => r.column_name),
  );
  const wanted: [string, string][] = [
    ...s.columns.map((c) => [c.name, PG_TYPES[c.type]] as [string, string]),
    ...Object.entries(META_COLUMNS),
    ...(entity.kind === "derived" ? Object.entries(DERIVED_META_COLUMNS) : []),
  ];
  for (const [name, type] of wanted) {
    if (present.has(name)) continue;
    // Added as NULL-able: existing rows have no value. New rows are still validated before they are written.
    await tx.unsafe(
      `ALTER TABLE ${sqlIdent(s.table)} ADD COLUMN ${sqlIdent(name)} ${type.replace(/ NOT NULL.*/, "")}`,
    );
    changes.push(`added column ${s.table}.${name}`);
  }
  const keyed = await tx`
    SELECT 1 FROM pg_index i
    WHERE i.indrelid = ${sqlIdent(s.table)}::regclass AND i.indisunique
      AND (SELECT array_agg(a.attname::text ORDER BY a.attname)
           FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey))
          = (SELECT array_agg(k ORDER BY k) FROM unnest(${s.key}::text[]) k)`;
  if (keyed.length === 0) {
    // The entity's key changed (or the constraint was dropped): nomnom's constraint moves to the new columns.
    // If existing rows repeat the new key, this fails, and the migration with it, naming the constraint.
    const name = sqlIdent(keyConstraintName(s.table));
    await tx.unsafe(`ALTER TABLE ${sqlIdent(s.table)} DROP CONSTRAINT IF EXISTS ${name}`);
    await tx.unsafe(
      `ALTER TABLE ${sqlIdent(s.table)} ADD CONSTRAINT ${name} UNIQUE (${s.key.map(sqlIdent).join(", ")})`,
    );
    changes.push(`added unique key (${s.key.join(", ")}) to ${s.table}`);
  }
  return changes;
}
