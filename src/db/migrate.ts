/**
 * The migration derived from the registry: nomnom's own schema and status table, then every stored entity's table
 * compared with its entity (src/db/schema_diff.ts). Safe changes are made; the others are returned as problems,
 * which keep the role from becoming ready and the worker from writing that entity, until an operator runs
 * `nomnom migrate --apply` (or fixes the table by hand).
 *
 * Every role migrates at start, often while other workers are writing. So the migration reads the catalog first
 * and issues only the DDL that is missing: `ALTER TABLE ... ADD COLUMN IF NOT EXISTS` and `CREATE INDEX IF NOT
 * EXISTS` lock their table even when there is nothing to do, and a start that held such locks deadlocked with
 * running workers (seen with two workers starting while a backlog drained). DDL runs in one transaction under an
 * advisory lock, so that workers starting together do not race (the second one re-reads the catalog and finds
 * nothing left to do), and with a lock timeout: an ALTER waiting for a long writer would queue every other
 * writer (and the API's status writes) behind it.
 */
import type { Logger } from "../log.ts";
import { sqlIdent } from "../registry/names.ts";
import type { Registry } from "../registry/types.ts";
import type { Sql } from "./connect.ts";
import { readTable } from "./schema_catalog.ts";
import { describeApplied, diffTable, type SchemaChange } from "./schema_diff.ts";
import { classifyDatabaseError } from "./sqlstate.ts";
import {
  NOMNOM_SCHEMA,
  STATUS_COLUMNS,
  STATUS_DEFAULT_PARTITION,
  STATUS_TABLE,
  type TableSpec,
} from "./statements.ts";

const MIGRATION_LOCK = 0x6e6f6d6e; // "nomn"

/** Longest wait for a table lock inside the migration; the attempt then fails (55P03) and is tried again. */
export const MIGRATION_LOCK_TIMEOUT_MS = 5_000;

/** Attempts at a migration that meets a lock conflict (a schema change raced the writers of another version). */
const ATTEMPTS = 5;

/** What a migration did and what it refused. */
export type MigrationResult = {
  /** A line per change made (none when up to date). */
  applied: string[];
  /** Differences left, each with the SQL that would fix it (see `describeProblem()`). */
  problems: SchemaChange[];
};

/** `safe`: what every start does. `all`: `nomnom migrate --apply`, the unsafe changes too. */
export type MigrationMode = "safe" | "all";

/** Create or upgrade every table the registry needs; return what changed and what is left. */
export async function migrate(
  sql: Sql,
  registry: Registry,
  log: Logger,
  mode: MigrationMode = "safe",
): Promise<MigrationResult> {
  for (let attempt = 1;; attempt++) {
    try {
      const result = await migrateOnce(sql, registry, mode);
      for (const change of result.applied) log.info("migration", { change });
      return result;
    } catch (error) {
      if (attempt >= ATTEMPTS || classifyDatabaseError(error) !== "lock_conflict") throw error;
      log.warn("migration met a lock conflict; trying again", { attempt, error });
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

/** Every difference between the tables and the registry, without changing anything (`nomnom migrate --plan`). */
export async function planMigration(
  sql: Sql,
  registry: Registry,
): Promise<{ status: string[]; changes: SchemaChange[] }> {
  const status = await statusTableChanges(sql);
  const changes: SchemaChange[] = [];
  for (const entity of registry.stored) {
    changes.push(...diffTable(entity, await readTable(sql, entity.storage!.table)));
  }
  return { status, changes };
}

async function migrateOnce(sql: Sql, registry: Registry, mode: MigrationMode): Promise<MigrationResult> {
  // First without any lock: an up-to-date schema (the common start) takes no lock at all.
  const first = await planMigration(sql, registry);
  const todo = (changes: SchemaChange[]) => changes.filter((c) => c.safe || mode === "all");
  if (first.status.length === 0 && todo(first.changes).length === 0) {
    return { applied: [], problems: first.changes.filter((c) => !c.safe) };
  }
  return await sql.begin(async (tx) => {
    const t = tx as unknown as Sql;
    await t`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await t.unsafe(`SET LOCAL lock_timeout = ${MIGRATION_LOCK_TIMEOUT_MS}`);
    // Again under the lock: another role may have made these changes while we waited.
    const { status, changes } = await planMigration(t, registry);
    const applied: string[] = [];
    for (const ddl of status) await t.unsafe(ddl);
    if (status.length > 0) applied.push(...describeStatus(status));
    const problems: SchemaChange[] = [];
    const refusals: string[] = [];
    for (const change of changes) {
      if (!change.safe && mode !== "all") {
        problems.push(change);
        continue;
      }
      const refused = await applyChange(t, change);
      if (refused) {
        refusals.push(refused);
        problems.push({ ...change, refused });
      } else applied.push(describeApplied(change));
    }
    if (mode === "all" && refusals.length > 0) {
      // One transaction: a partial --apply would leave a table half-changed. Nothing is kept.
      throw new MigrationRefused(refusals);
    }
    return { applied, problems };
  });
}

/** `nomnom migrate --apply` refused: existing rows would not survive a change. Nothing was changed. */
export class MigrationRefused extends Error {
  override name = "MigrationRefused";
  constructor(readonly refusals: string[]) {
    super(`Nothing was changed:\n  ${refusals.join("\n  ")}`);
  }
}

/**
 * Run one change in a savepoint. A change that existing rows do not survive (a value that does not convert,
 * rows that repeat the new key) is undone and returned as a refusal naming an example row.
 */
async function applyChange(tx: Sql, change: SchemaChange): Promise<string | undefined> {
  if (change.key) {
    const duplicate = await findDuplicate(tx, change.table, change.key);
    if (duplicate) {
      return `Cannot add unique key (${
        change.key.join(", ")
      }) to "${change.table}" (entity "${change.entity}"): ` +
        `${duplicate}. Remove or merge those rows first.`;
    }
  }
  await tx.unsafe("SAVEPOINT nomnom_change");
  try {
    for (const statement of change.sql) await tx.unsafe(statement);
    await tx.unsafe("RELEASE SAVEPOINT nomnom_change");
    return undefined;
  } catch (error) {
    await tx.unsafe("ROLLBACK TO SAVEPOINT nomnom_change");
    const code = (error as { code?: string }).code ?? "";
    if (!change.cast || classifyDatabaseError(error) === "lock_conflict") throw error;
    const example = await findUnconvertible(
      tx,
      change.table,
      change.column!,
      change.cast.to,
      change.cast.key,
    );
    return `Cannot change "${change.table}"."${change.column}" (entity "${change.entity}") from ` +
      `${change.cast.from} to ${change.cast.to}: ${example ?? "a row"} does not convert ` +
      `([${code}] ${(error as Error).message}). Fix or delete such rows, then run it again.`;
  }
}

/** An example of rows repeating `key` (`(a, b) = ('x', 1) appears 2 times`), or undefined. */
async function findDuplicate(tx: Sql, table: string, key: string[]): Promise<string | undefined> {
  const cols = key.map(sqlIdent).join(", ");
  const [row] = await tx.unsafe(
    `SELECT ${key.map((k) => `${sqlIdent(k)}::text`).join(", ")}, count(*)::int AS n FROM ${sqlIdent(table)}
     GROUP BY ${cols} HAVING count(*) > 1 LIMIT 1`,
  );
  if (!row) return undefined;
  return `(${key.join(", ")}) = (${key.map((k) => quote(row[k])).join(", ")}) appears ${row.n} times`;
}

/** The first row whose `column` does not cast to `type`, named by its ctid and the entity's key columns. */
async function findUnconvertible(
  tx: Sql,
  table: string,
  column: string,
  type: string,
  key: string[],
): Promise<string | undefined> {
  // Cast each value on its own, in a function that catches the error: one bad row fails the whole ALTER, and
  // the server does not say which row it was.
  await tx.unsafe(`CREATE OR REPLACE FUNCTION pg_temp.nomnom_cast_fails(v anyelement, t text) RETURNS boolean
    LANGUAGE plpgsql AS $$ BEGIN EXECUTE format('SELECT $1::%s', t) USING v; RETURN false;
    EXCEPTION WHEN others THEN RETURN true; END $$`);
  const c = sqlIdent(column);
  const [row] = await tx.unsafe(
    `SELECT ctid::text AS ctid, to_jsonb(t) AS r, ${c}::text AS v FROM ${sqlIdent(table)} t
     WHERE ${c} IS NOT NULL AND pg_temp.nomnom_cast_fails(${c}, $1) LIMIT 1`,
    [type],
  );
  if (!row) return undefined;
  const r = row.r as Record<string, unknown>;
  const named = key.filter((k) => k !== column && k in r).map((k) => `${k} = ${quote(r[k])}`);
  return `the row at ctid ${row.ctid}${named.length > 0 ? ` (${named.join(", ")})` : ""} with ${column} = ` +
    quote(row.v);
}

const quote = (
  v: unknown,
) => (v === null || v === undefined ? "NULL" : `'${String(v).replaceAll("'", "''")}'`);

/** The DDL nomnom's own schema and status table lack (read-only). */
async function statusTableChanges(sql: Sql): Promise<string[]> {
  const [{ exists }] = await sql`SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ${NOMNOM_SCHEMA})`;
  if (!exists) return [`CREATE SCHEMA ${NOMNOM_SCHEMA}`, ...createStatusTable()];
  const [table] = await sql`SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ${NOMNOM_SCHEMA} AND c.relname = ${STATUS_TABLE.name}`;
  if (!table) return createStatusTable();
  if (table.relkind === "r") return convertStatusTable(await tableChanges(sql, STATUS_TABLE));
  const ddl = await tableChanges(sql, STATUS_TABLE);
  const [{ found }] =
    await sql`SELECT to_regclass(${`${NOMNOM_SCHEMA}.${STATUS_DEFAULT_PARTITION}`}) IS NOT NULL
    AS found`;
  if (!found) ddl.push(createDefaultPartition());
  return ddl;
}

const createDefaultPartition = () =>
  `CREATE TABLE ${NOMNOM_SCHEMA}.${STATUS_DEFAULT_PARTITION} PARTITION OF ${NOMNOM_SCHEMA}.${STATUS_TABLE.name} DEFAULT`;

const createStatusTable = () => [
  STATUS_TABLE.create,
  createDefaultPartition(),
  ...STATUS_TABLE.indexes.map((i) => i.create),
];

/**
 * A status table made by a version before partitioning: its rows move into the partitioned table (all into the
 * default partition; the retention's maintenance then moves them to their days). `upgrade` is what the old
 * table lacks, applied first so that every column exists to copy. A row without `received_at` (possible before)
 * takes its processing time, or now.
 */
function convertStatusTable(upgrade: string[]): string[] {
  const old = `${NOMNOM_SCHEMA}.messages_unpartitioned`;
  const columns = STATUS_COLUMNS.join(", ");
  const values = STATUS_COLUMNS.map((c) =>
    c === "received_at" ? "COALESCE(received_at, processed_at, now())" : c
  )
    .join(", ");
  return [
    ...upgrade,
    `ALTER TABLE ${NOMNOM_SCHEMA}.${STATUS_TABLE.name} RENAME TO messages_unpartitioned`,
    `ALTER INDEX IF EXISTS ${NOMNOM_SCHEMA}.messages_pkey RENAME TO messages_unpartitioned_pkey`,
    ...STATUS_TABLE.indexes.map((i) => `DROP INDEX IF EXISTS ${NOMNOM_SCHEMA}.${i.name}`),
    ...createStatusTable(),
    `INSERT INTO ${NOMNOM_SCHEMA}.${STATUS_TABLE.name} (${columns}) SELECT ${values} FROM ${old}`,
    `DROP TABLE ${old}`,
  ];
}

/** Create the table, or add the columns and indexes it lacks (nomnom's own tables: they only ever grow). */
async function tableChanges(sql: Sql, spec: TableSpec): Promise<string[]> {
  const qualified = (name: string) => `${spec.schema}.${sqlIdent(name)}`;
  const [{ exists }] = await sql`SELECT to_regclass(${qualified(spec.name)}) IS NOT NULL AS exists`;
  if (!exists) return [spec.create, ...spec.indexes.map((i) => i.create)];
  const present = new Set(
    (await sql`SELECT column_name FROM information_schema.columns
               WHERE table_schema = ${spec.schema!} AND table_name = ${spec.name}`).map((r) => r.column_name),
  );
  const ddl = spec.columns.filter((c) => !present.has(c.name))
    .map((c) => `ALTER TABLE ${qualified(spec.name)} ADD COLUMN ${sqlIdent(c.name)} ${c.add}`);
  for (const index of spec.indexes) {
    const [{ found }] = await sql`SELECT to_regclass(${qualified(index.name)}) IS NOT NULL AS found`;
    if (!found) ddl.push(index.create);
  }
  return ddl;
}

function describeStatus(ddl: string[]): string[] {
  if (ddl.some((d) => d.includes("RENAME TO messages_unpartitioned"))) {
    return [`converted ${STATUS_TABLE.label} to a table partitioned by day (its rows kept)`];
  }
  return ddl.map((d) =>
    d.includes(" DEFAULT") && d.includes("PARTITION OF")
      ? `created the default partition of ${STATUS_TABLE.label}`
      : d.startsWith("CREATE TABLE")
      ? `created table ${STATUS_TABLE.label}`
      : d.startsWith("CREATE SCHEMA")
      ? `created schema ${NOMNOM_SCHEMA}`
      : d.startsWith("CREATE INDEX")
      ? `created index ${d.split(" ")[2]} on ${STATUS_TABLE.label}`
      : `upgraded ${STATUS_TABLE.label}: ${d}`
  );
}

/**
 * Derived entities whose tables have rows written before nomnom adopted them (no `_root_key`), and a way to find
 * them from their root (see `deleteLegacyChildren` in statements.ts). Read once at start: nomnom always writes
 * `_root_key`, so no such row appears later.
 */
export async function findLegacyChildren(sql: Sql, registry: Registry): Promise<Set<string>> {
  const found = new Set<string>();
  for (const entity of registry.stored) {
    if (entity.kind !== "derived") continue;
    const [row] = await sql.unsafe(
      `SELECT EXISTS (SELECT 1 FROM ${sqlIdent(entity.storage!.table)} WHERE "_root_key" IS NULL) AS legacy`,
    ).catch(() => [{ legacy: false }]); // no such column yet: the table does not match, nothing is written
    if (row.legacy) found.add(entity.name);
  }
  return found;
}
