/**
 * The migration derived from the registry: nomnom's own schema and status table, then a table, its UNIQUE
 * constraint on the entity's key and its indexes for every stored entity (root, reference and derived).
 *
 * Every role migrates at start, often while other workers are writing. So the migration reads the catalog first
 * and issues only the DDL that is missing: `ALTER TABLE ... ADD COLUMN IF NOT EXISTS` and `CREATE INDEX IF NOT
 * EXISTS` lock their table even when there is nothing to do, and a start that held such locks deadlocked with
 * running workers (seen with two workers starting while a backlog drained). Serialized by an advisory lock, so
 * that workers starting together do not race, and outside the data transactions.
 */
import type { Logger } from "../log.ts";
import { sqlIdent } from "../registry/names.ts";
import type { Entity, Registry } from "../registry/types.ts";
import type { Sql } from "./connect.ts";
import { classifyDatabaseError } from "./sqlstate.ts";
import {
  createEntityTableSpec,
  keyConstraintName,
  NOMNOM_SCHEMA,
  STATUS_TABLE,
  type TableSpec,
} from "./statements.ts";

const MIGRATION_LOCK = 0x6e6f6d6e; // "nomn"

/** Attempts at a migration that meets a lock conflict (a schema change raced the writers of another version). */
const ATTEMPTS = 5;

/** Create or upgrade every table the registry needs. Returns a line per change made (none when up to date). */
export async function migrate(sql: Sql, registry: Registry, log: Logger): Promise<string[]> {
  for (let attempt = 1;; attempt++) {
    try {
      const changes = await migrateOnce(sql, registry);
      for (const change of changes) log.info("migration", { change });
      return changes;
    } catch (error) {
      if (attempt >= ATTEMPTS || classifyDatabaseError(error) !== "lock_conflict") throw error;
      log.warn("migration met a lock conflict; trying again", { attempt, error });
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

async function migrateOnce(sql: Sql, registry: Registry): Promise<string[]> {
  const changes: string[] = [];
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    const [{ exists }] =
      await tx`SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ${NOMNOM_SCHEMA})`;
    if (!exists) await tx.unsafe(`CREATE SCHEMA ${NOMNOM_SCHEMA}`);
    changes.push(...(await ensureTable(tx as unknown as Sql, STATUS_TABLE)).changes);
    for (const entity of registry.stored) {
      const table = await ensureTable(tx as unknown as Sql, createEntityTableSpec(entity));
      changes.push(...table.changes);
      if (!table.created) changes.push(...await ensureKey(tx as unknown as Sql, entity));
    }
  });
  return changes;
}

/** Create the table, or add the columns and indexes it lacks. */
async function ensureTable(tx: Sql, spec: TableSpec): Promise<{ created: boolean; changes: string[] }> {
  const qualified = (name: string) => (spec.schema ? `${spec.schema}.` : "") + sqlIdent(name);
  const [{ exists }] = await tx`SELECT to_regclass(${qualified(spec.name)}) IS NOT NULL AS exists`;
  if (!exists) {
    await tx.unsafe(spec.create);
    for (const index of spec.indexes) await tx.unsafe(index.create);
    return { created: true, changes: [`created table ${spec.label}`] };
  }
  const changes: string[] = [];
  const present = new Set(
    (await tx`SELECT column_name FROM information_schema.columns
              WHERE table_schema = COALESCE(${spec.schema ?? null}, current_schema())
                AND table_name = ${spec.name}`).map((r) => r.column_name),
  );
  for (const column of spec.columns) {
    if (present.has(column.name)) continue;
    await tx.unsafe(`ALTER TABLE ${qualified(spec.name)} ADD COLUMN ${sqlIdent(column.name)} ${column.add}`);
    changes.push(`added column ${spec.name}.${column.name}`);
  }
  for (const index of spec.indexes) {
    const [{ found }] = await tx`SELECT to_regclass(${qualified(index.name)}) IS NOT NULL AS found`;
    if (found) continue;
    await tx.unsafe(index.create);
    changes.push(`added index ${index.name} to ${spec.name}`);
  }
  return { created: false, changes };
}

/**
 * The entity's UNIQUE key: if no unique index covers exactly its columns, nomnom's constraint moves there. Only an
 * index that can back `ON CONFLICT (columns)` counts: not partial (inference needs its WHERE repeated), not
 * invalid (a failed CREATE INDEX CONCURRENTLY). A deferrable one on those columns makes every upsert fail
 * ("ON CONFLICT does not support deferrable unique constraints/exclusion constraints as arbiters") whatever else
 * exists, so it stops the migration, named.
 */
async function ensureKey(tx: Sql, entity: Entity): Promise<string[]> {
  const s = entity.storage!;
  const matching = await tx`
    SELECT i.indexrelid::regclass::text AS name, i.indimmediate AS immediate
    FROM pg_index i
    WHERE i.indrelid = ${sqlIdent(s.table)}::regclass AND i.indisunique
      AND i.indpred IS NULL AND i.indisvalid
      -- an expression index hides its expressions from indkey (attnum 0), and INCLUDE columns are in indkey
      -- but not in the key: neither can stand for UNIQUE (key columns) as an ON CONFLICT arbiter
      AND i.indexprs IS NULL AND i.indnkeyatts = i.indnatts
      AND (SELECT array_agg(a.attname::text ORDER BY a.attname)
           FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey))
          = (SELECT array_agg(k ORDER BY k) FROM unnest(${s.key}::text[]) k)`;
  const deferrable = matching.find((ix) => !ix.immediate);
  if (deferrable) {
    throw new Error(
      `Cannot use table "${s.table}" for entity "${entity.name}": its unique index ${deferrable.name} on ` +
        `(${
          s.key.join(", ")
        }) is deferrable, and ON CONFLICT cannot work with that. Make it NOT DEFERRABLE ` +
        `or drop it.`,
    );
  }
  if (matching.length > 0) return [];
  // The entity's key changed (or the constraint was dropped). If existing rows repeat the new key, this fails,
  // and the migration with it, naming the constraint.
  const name = sqlIdent(keyConstraintName(s.table));
  await tx.unsafe(`ALTER TABLE ${sqlIdent(s.table)} DROP CONSTRAINT IF EXISTS ${name}`);
  await tx.unsafe(
    `ALTER TABLE ${sqlIdent(s.table)} ADD CONSTRAINT ${name} UNIQUE (${s.key.map(sqlIdent).join(", ")})`,
  );
  return [`added unique key (${s.key.join(", ")}) to ${s.table}`];
}
