/**
 * What separates a table from its entity (pure): the catalog's view of the table in, a list of changes out, each
 * safe or not and each with the SQL that makes the table match. Safe means every existing row stays valid and no
 * value changes: a new (nullable) column, a wider type, a NOT NULL dropped where the entity made the field
 * nullable, a missing index or key. Everything else (a narrowing or different type, a key that moves, a NOT NULL
 * column nomnom does not write) changes data or identity, so only an operator decides it (`nomnom migrate
 * --apply`); until then nomnom refuses to write that entity.
 *
 * A column wider than the entity needs (table bigint, entity Integer) is left alone: every value the entity
 * produces fits, and narrowing it could not keep every row.
 */
import { PG_TYPES } from "../registry/field_types.ts";
import { DERIVED_META_COLUMNS, META_COLUMNS, sqlIdent } from "../registry/names.ts";
import type { Entity } from "../registry/types.ts";
import { createEntityTableSpec, keyConstraintName } from "./statements.ts";

/** A column as the catalog describes it. `type` is `format_type()`'s text: `integer`, `numeric(10,2)`, … */
export type LiveColumn = { name: string; type: string; notNull: boolean; hasDefault: boolean };

/** A unique index (or constraint) of the table. */
export type LiveUniqueIndex = {
  name: string;
  columns: string[];
  /** Can back `ON CONFLICT (columns)`: valid, not partial, no expressions, no INCLUDE columns. */
  usable: boolean;
  deferrable: boolean;
  /** The constraint it belongs to, when it is one (constraints are altered and dropped by that name). */
  constraint?: string;
};

/** The catalog's view of one table; undefined when the table does not exist. */
export type LiveTable = { columns: LiveColumn[]; uniqueIndexes: LiveUniqueIndex[]; indexes: string[] };

export const SAFE_KINDS = [
  "create_table",
  "add_column",
  "widen_type",
  "drop_not_null",
  "add_key",
  "add_index",
] as const;
export const UNSAFE_KINDS = ["change_type", "unknown_not_null", "change_key", "deferrable_key"] as const;
export type ChangeKind = (typeof SAFE_KINDS)[number] | (typeof UNSAFE_KINDS)[number];

/** One difference between a table and its entity, and the SQL that removes it. */
export type SchemaChange = {
  entity: string;
  table: string;
  column?: string;
  kind: ChangeKind;
  safe: boolean;
  /** What the table has, and what the entity declares (for people). */
  has: string;
  declares: string;
  /** The statements that make the table match, in order. */
  sql: string[];
  /** For `change_type`: the cast the statements use, to find a row that would not convert (named by `key`). */
  cast?: { from: string; to: string; key: string[] };
  /** Why applying it failed (rows that would not survive it), when it was tried. */
  refused?: string;
  /** For `change_key`: the columns whose values must be unique before the key can move there. */
  key?: string[];
};

/** A type's name as `format_type()` spells it (PG_TYPES uses the short `timestamptz`). */
const CANONICAL: Record<string, string> = { timestamptz: "timestamp with time zone" };
export const canonicalType = (type: string) => CANONICAL[type] ?? type;

/**
 * Conversions that keep every value exactly (so existing rows stay valid and unchanged): integers to wider
 * integers, numeric and float8 (float8 holds every 32-bit integer exactly, not every 64-bit one), real to double
 * precision, a numeric or varchar with a limit to the unlimited type. `char(n)` is not here: its cast to text
 * strips trailing blanks.
 */
const WIDER: Record<string, string[]> = {
  smallint: ["integer", "bigint", "numeric", "real", "double precision"],
  integer: ["bigint", "numeric", "double precision"],
  bigint: ["numeric"],
  real: ["double precision"],
  numeric: ["numeric"],
  "character varying": ["text"],
};

/** True when every value of type `from` converts to type `to` exactly (`to` has no length or precision limit). */
export function isWidening(from: string, to: string): boolean {
  const base = from.replace(/\(.*\)$/, "");
  if (from === to) return false;
  return (WIDER[base] ?? []).includes(to);
}

/** The columns nomnom writes to the table of `entity`, with the type and nullability it declares. */
export function declaredColumns(
  entity: Entity,
): { name: string; type: string; nullable: boolean; field?: string }[] {
  const s = entity.storage!;
  const meta: Record<string, string> = {
    ...META_COLUMNS,
    ...(entity.kind === "derived" ? DERIVED_META_COLUMNS : {}),
  };
  return [
    ...s.columns.map((c) => ({
      name: c.name,
      type: canonicalType(PG_TYPES[c.type]),
      nullable: c.nullable,
      field: c.type,
    })),
    // nomnom's own columns may be NULL in rows written before nomnom adopted the table.
    ...Object.entries(meta).map(([name, type]) => ({
      name,
      type: canonicalType(type.split(" NOT NULL")[0]),
      nullable: true,
    })),
  ];
}

/** Every change that would make `live` the table `entity` needs, safe ones first in the order they must run. */
export function diffTable(entity: Entity, live: LiveTable | undefined): SchemaChange[] {
  const s = entity.storage!;
  const spec = createEntityTableSpec(entity);
  const t = sqlIdent(s.table);
  const base = { entity: entity.name, table: s.table };
  if (!live) {
    return [{
      ...base,
      kind: "create_table",
      safe: true,
      has: "no table",
      declares: `table ${s.table}`,
      sql: [spec.create, ...spec.indexes.map((i) => i.create)],
    }];
  }
  const changes: SchemaChange[] = [];
  const columns = new Map(live.columns.map((c) => [c.name, c]));
  const declared = declaredColumns(entity);
  for (const want of declared) {
    const col = columns.get(want.name);
    const c = sqlIdent(want.name);
    const declares = `${want.type}${want.field ? ` (${want.field})` : ""}${want.nullable ? "" : " NOT NULL"}`;
    if (!col) {
      // Nullable even where the entity says NOT NULL: the rows already there have no value for it.
      changes.push({
        ...base,
        column: want.name,
        kind: "add_column",
        safe: true,
        has: "no such column",
        declares,
        sql: [`ALTER TABLE ${t} ADD COLUMN ${c} ${want.type}`],
      });
      continue;
    }
    const has = `${col.type}${col.notNull ? " NOT NULL" : ""}`;
    if (col.type !== want.type && !isWidening(want.type, col.type)) {
      const widen = isWidening(col.type, want.type);
      changes.push({
        ...base,
        column: want.name,
        kind: widen ? "widen_type" : "change_type",
        safe: widen,
        has,
        declares,
        sql: [
          `ALTER TABLE ${t} ALTER COLUMN ${c} TYPE ${want.type}${widen ? "" : ` USING ${c}::${want.type}`}`,
        ],
        cast: widen ? undefined : { from: col.type, to: want.type, key: s.key },
      });
    }
    if (col.notNull && want.nullable && want.field) {
      changes.push({
        ...base,
        column: want.name,
        kind: "drop_not_null",
        safe: true,
        has,
        declares,
        sql: [`ALTER TABLE ${t} ALTER COLUMN ${c} DROP NOT NULL`],
      });
    }
  }
  const written = new Set(declared.map((d) => d.name));
  for (const col of live.columns) {
    if (written.has(col.name) || !col.notNull || col.hasDefault) continue;
    // nomnom never writes it, so every insert would fail with 23502. Dropping the NOT NULL keeps its data; if the
    // field was renamed, the old values may belong in the new column first.
    const renamed = declared.find((d) =>
      !columns.has(d.name) && d.field && (d.type === col.type || isWidening(col.type, d.type))
    );
    changes.push({
      ...base,
      column: col.name,
      kind: "unknown_not_null",
      safe: false,
      has: `${col.type} NOT NULL without default`,
      declares: `no field "${col.name}"${
        renamed
          ? ` (if it was renamed to "${renamed.name}", copy it first: UPDATE ${t} SET ` +
            `${sqlIdent(renamed.name)} = ${sqlIdent(col.name)})`
          : ""
      }`,
      sql: [`ALTER TABLE ${t} ALTER COLUMN ${sqlIdent(col.name)} DROP NOT NULL`],
    });
  }
  changes.push(...diffKey(entity, live));
  for (const index of spec.indexes) {
    if (live.indexes.includes(index.name)) continue;
    changes.push({
      ...base,
      kind: "add_index",
      safe: true,
      has: "no index " + index.name,
      declares: "index " + index.name,
      sql: [index.create],
    });
  }
  return changes;
}

/**
 * The entity's key needs a unique index on exactly its columns that can back ON CONFLICT. A deferrable one makes
 * every upsert fail ("ON CONFLICT does not support deferrable unique constraints"). No such index: if nomnom's own
 * key constraint sits on other columns, the entity's key changed (rows that were one key may now be several, or
 * the reverse: the operator decides); otherwise the key is just missing (dropped by hand, or an adopted table).
 */
function diffKey(entity: Entity, live: LiveTable): SchemaChange[] {
  const s = entity.storage!;
  const t = sqlIdent(s.table);
  const base = { entity: entity.name, table: s.table };
  const sorted = (cols: string[]) => JSON.stringify([...cols].sort());
  const wanted = sorted(s.key);
  const declares = `unique key (${s.key.join(", ")})`;
  const matching = live.uniqueIndexes.filter((ix) => ix.usable && sorted(ix.columns) === wanted);
  const deferrable = matching.find((ix) => ix.deferrable);
  if (deferrable) {
    return [{
      ...base,
      kind: "deferrable_key",
      safe: false,
      has: `deferrable unique index ${deferrable.name} on (${deferrable.columns.join(", ")}); ON CONFLICT ` +
        `cannot work with that`,
      declares,
      sql: [
        deferrable.constraint
          // (ALTER CONSTRAINT … NOT DEFERRABLE only works on foreign keys.) nomnom's own key is added next.
          ? `ALTER TABLE ${t} DROP CONSTRAINT ${sqlIdent(deferrable.constraint)}`
          : `DROP INDEX ${sqlIdent(deferrable.name)}`,
      ],
    }];
  }
  if (matching.length > 0) return [];
  const name = keyConstraintName(s.table);
  const add = `ALTER TABLE ${t} ADD CONSTRAINT ${sqlIdent(name)} UNIQUE (${s.key.map(sqlIdent).join(", ")})`;
  const own = live.uniqueIndexes.find((ix) => ix.constraint === name);
  if (own) {
    return [{
      ...base,
      kind: "change_key",
      safe: false,
      has: `unique key (${own.columns.join(", ")})`,
      declares,
      sql: [`ALTER TABLE ${t} DROP CONSTRAINT ${sqlIdent(name)}`, add],
      key: s.key,
    }];
  }
  return [{
    ...base,
    kind: "add_key",
    safe: true,
    has: "no usable unique index",
    declares,
    sql: [add],
    key: s.key,
  }];
}

/** What a start reports for a safe change it made (`added column orders.note`). */
export function describeApplied(change: SchemaChange): string {
  switch (change.kind) {
    case "create_table":
      return `created table ${change.table} (${change.entity})`;
    case "add_column":
      return `added column ${change.table}.${change.column}`;
    case "widen_type":
      return `widened column ${change.table}.${change.column} from ${change.has} to ${change.declares}`;
    case "drop_not_null":
      return `dropped NOT NULL of ${change.table}.${change.column}`;
    case "add_key":
      return `added unique key (${change.key!.join(", ")}) to ${change.table}`;
    case "add_index":
      return `added index ${change.declares.replace(/^index /, "")} to ${change.table}`;
    default:
      return `changed ${change.table}${
        change.column ? `.${change.column}` : ""
      }: ${change.has} → ${change.declares}`;
  }
}

/** One line for a change nomnom refuses to make by itself: entity, table, column, has, declares, the fix. */
export function describeProblem(change: SchemaChange): string {
  const where = `entity "${change.entity}", table "${change.table}"${
    change.column ? `, column "${change.column}"` : ""
  }`;
  return `${where}: the table has ${change.has}, the entity declares ${change.declares}. ` +
    (change.refused ? `${change.refused} ` : "") +
    `Fix: ${change.sql.map((s) => s + ";").join(" ")} (or run \`nomnom migrate --apply\`)`;
}
