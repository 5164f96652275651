/**
 * SQL text derived from the registry, once per entity (pure). The UNIQUE constraint and the ON CONFLICT target
 * are built from the same `storage.key`, so an upsert can never name columns that have no constraint. Every
 * identifier passes `sqlIdent()`; values only ever travel as parameters. Each statement takes one text[]
 * parameter per column (unnest), so its text is the same for every batch size: one prepared statement each.
 */
import { PG_TYPES } from "../registry/field_types.ts";
import { DERIVED_META_COLUMNS, META_COLUMNS, sqlIdent } from "../registry/names.ts";
import type { Entity } from "../registry/types.ts";

/** nomnom's own schema: message status and bookkeeping live apart from the entity tables. */
export const NOMNOM_SCHEMA = "nomnom";

/** The columns nomnom adds to the table of `entity`, with their SQL definitions. */
function metaColumns(entity: Entity): Record<string, string> {
  return { ...META_COLUMNS, ...(entity.kind === "derived" ? DERIVED_META_COLUMNS : {}) };
}

export type EntityStatements = {
  entity: Entity;
  /** Parameter order of `upsert`: stored columns, then the meta columns listed here. */
  params: string[];
  /**
   * Upsert of a batch. A root's ends in `RETURNING _seq`: which rows were written (newer than what was there).
   */
  upsert: string;
  /** Derived tables only: delete the children of the given roots ($1) written before sequence $2. */
  deleteStaleChildren?: string;
  /**
   * Derived tables that copy every key field of their root: delete the children written before nomnom adopted
   * the table (no `_root_key`) of the given roots, found by those copies. `rootFields` are the parameters' order.
   */
  deleteLegacyChildren?: { text: string; rootFields: string[] };
};

/** Name of the UNIQUE constraint nomnom keeps on `storage.key` (≤ 63 chars). */
export function keyConstraintName(table: string): string {
  return `${table.slice(0, 51)}_nomnom_key`;
}

/**
 * What a table must look like: how to create it, the columns to add when an older table lacks them (nullable:
 * existing rows have no value), and its secondary indexes. The migration compares it with the catalog and only
 * issues the DDL that is missing, so a schema that is up to date takes no table lock at all.
 */
export type TableSpec = {
  /** Schema, or undefined for the connection's current schema (the entity tables). */
  schema?: string;
  name: string;
  /** For the migration's report: the table and what it stores. */
  label: string;
  create: string;
  columns: { name: string; add: string }[];
  indexes: { name: string; create: string }[];
};

/** The table of a stored entity. */
export function createEntityTableSpec(entity: Entity): TableSpec {
  const s = entity.storage!;
  const table = sqlIdent(s.table);
  const meta = metaColumns(entity);
  const lines = [
    `${sqlIdent(s.idColumn)} bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY`,
    ...s.columns.map((c) => `${sqlIdent(c.name)} ${PG_TYPES[c.type]}${c.nullable ? "" : " NOT NULL"}`),
    ...Object.entries(meta).map(([name, type]) => `${sqlIdent(name)} ${type}`),
    `CONSTRAINT ${sqlIdent(keyConstraintName(s.table))} UNIQUE (${s.key.map(sqlIdent).join(", ")})`,
  ];
  const columns = [
    ...s.columns.map((c) => ({ name: c.name, add: PG_TYPES[c.type] })),
    ...Object.entries(meta).map(([name, type]) => ({ name, add: type.replace(/ NOT NULL.*/, "") })),
  ];
  const root = `${s.table.slice(0, 49)}_nomnom_root`;
  return {
    name: s.table,
    label: `${s.table} (${entity.name})`,
    create: `CREATE TABLE ${table} (\n  ${lines.join(",\n  ")}\n)`,
    columns,
    indexes: entity.kind === "derived"
      ? [{ name: root, create: `CREATE INDEX ${sqlIdent(root)} ON ${table} ("_root_key")` }]
      : [],
  };
}

/**
 * The upsert (and, for derived entities, the stale-children deletes) of a stored entity. `root` is the root
 * entity of a derived one (for the children of rows written before nomnom).
 */
export function createEntityStatements(entity: Entity, root?: Entity): EntityStatements {
  const s = entity.storage!;
  const derived = entity.kind === "derived";
  // Every meta column is a parameter but those PostgreSQL fills in (DEFAULT: `_updated_at`, set below).
  const meta = Object.entries(metaColumns(entity)).filter(([, definition]) =>
    !definition.includes("DEFAULT")
  );
  const columns = [
    ...s.columns.map((c) => ({ name: c.name, type: PG_TYPES[c.type] })),
    ...meta.map(([name, definition]) => ({ name, type: definition.split(" ")[0] })),
  ];
  const table = sqlIdent(s.table);
  const names = columns.map((c) => sqlIdent(c.name));
  const aliases = columns.map((_, i) => `c${i}`);
  const updates = columns
    .filter((c) => !s.key.includes(c.name))
    .map((c) => `${sqlIdent(c.name)} = EXCLUDED.${sqlIdent(c.name)}`)
    .concat(`"_updated_at" = now()`);
  // The guard: a row is only replaced by a message that came later in the stream. A late redelivery of an older
  // message (same key, lower sequence) changes nothing. Children use <= so a message may rewrite its own rows.
  // A row without a sequence was written before nomnom adopted the table: any message is newer (`NULL < n` is
  // NULL, never true, and would have kept such rows forever).
  const guard = `(t."_seq" IS NULL OR t."_seq" ${derived ? "<=" : "<"} EXCLUDED."_seq")`;
  const upsert = [
    `INSERT INTO ${table} AS t (${names.join(", ")})`,
    `SELECT ${columns.map((c, i) => `u.${aliases[i]}::${c.type}`).join(", ")}`,
    `FROM unnest(${columns.map((_, i) => `$${i + 1}::text[]`).join(", ")}) AS u(${aliases.join(", ")})`,
    `ON CONFLICT (${s.key.map(sqlIdent).join(", ")}) DO UPDATE SET ${updates.join(", ")}`,
    `WHERE ${guard}`,
    // Only a root's answer is read (which messages won, whose children are replaced). A child upsert's would be
    // one row back per line item, each parsed by postgres.js into an object nobody reads.
    ...derived ? [] : [`RETURNING t."_seq"`],
  ].join("\n");
  // Old children of replaced roots. `= ANY($1)` probes the _root_key index once per key (a join against
  // unnest() was planned as a scan of the whole child table). One bound for the batch is enough: the root upsert
  // holds each root's row lock and only a newer message wins it, so every child already there for a replaced
  // root is older than that root's new message, and so older than the batch's newest winner ($2).
  const deleteStaleChildren = derived
    ? `DELETE FROM ${table} AS t WHERE t."_root_key" = ANY($1::text[]) AND t."_seq" < $2::bigint`
    : undefined;
  return {
    entity,
    params: columns.map((c) => c.name),
    upsert,
    deleteStaleChildren,
    deleteLegacyChildren: derived && root ? createLegacyChildrenDelete(entity, root) : undefined,
  };
}

/**
 * Rows written before nomnom have no `_root_key`, so the children of a replaced root are found by the columns
 * that copy the root's key (`copy_field` from the root entity, as the TPC-H line items copy `order_key`). Without
 * such copies nothing links an old child to its root, and old children stay.
 */
function createLegacyChildrenDelete(entity: Entity, root: Entity): EntityStatements["deleteLegacyChildren"] {
  const rootStorage = root.storage;
  if (!rootStorage?.naturalKey) return undefined;
  const stored = new Map(entity.storage!.columns.map((c) => [c.name, c]));
  const copies = rootStorage.key.map((rootField) =>
    entity.fields.find((f) =>
      stored.has(f.name) && f.computedFrom?.transform === "copy_field" &&
      f.computedFrom.sources.some((s) => "entity" in s && s.entity === root.name && s.field === rootField)
    )
  );
  if (copies.some((c) => !c)) return undefined;
  const cols = copies.map((f) => sqlIdent(f!.name));
  const casts = copies.map((f, i) => `u.c${i}::${PG_TYPES[stored.get(f!.name)!.type]}`);
  const arrays = copies.map((_, i) => `$${i + 1}::text[]`);
  const aliases = copies.map((_, i) => `c${i}`);
  return {
    text:
      `DELETE FROM ${sqlIdent(entity.storage!.table)} AS t WHERE t."_root_key" IS NULL AND (${
        cols.join(", ")
      }) ` +
      `IN (SELECT ${casts.join(", ")} FROM unnest(${arrays.join(", ")}) AS u(${aliases.join(", ")}))`,
    rootFields: rootStorage.key,
  };
}

/**
 * nomnom's status table. `history` keeps every status change of a message (replays included).
 *
 * Partitioned by `received_at`, the time the API accepted the message, one partition a day (see
 * src/db/status_retention.ts), so that rows past the retention go by dropping a partition, not by deleting row
 * by row, and each partition's indexes stay the size of a day. A unique key of a partitioned table must hold the
 * partition key, hence `(message_id, received_at)`: every write of a message carries the same `received_at` (the
 * `Nomnom-Received-At` header, which a replay keeps), so the key still means one row per message. Rows whose day
 * has no partition land in the default partition, so a write never depends on the maintenance having run.
 */
export const STATUS_TABLE: TableSpec = {
  schema: NOMNOM_SCHEMA,
  name: "messages",
  label: `${NOMNOM_SCHEMA}.messages (message status)`,
  create: `CREATE TABLE ${NOMNOM_SCHEMA}.messages (
  message_id text NOT NULL,
  entity text NOT NULL,
  status text NOT NULL,
  stream_seq bigint,
  received_at timestamptz NOT NULL,
  processed_at timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  error text,
  next_attempt_at timestamptz,
  history jsonb NOT NULL DEFAULT '[]',
  body_sha256 text,
  PRIMARY KEY (message_id, received_at)
) PARTITION BY RANGE (received_at)`,
  // Columns later versions added; a table made by an earlier one gets them.
  columns: [
    { name: "next_attempt_at", add: "timestamptz" },
    { name: "history", add: "jsonb NOT NULL DEFAULT '[]'" },
    // SHA-256 of the body of a message sent with an Idempotency-Key (src/api/ingest.ts compares repeats).
    { name: "body_sha256", add: "text" },
  ],
  indexes: [{
    name: "messages_status_time",
    create:
      `CREATE INDEX messages_status_time ON ${NOMNOM_SCHEMA}.messages (status, processed_at, message_id)`,
  }],
};

/** The status table's partition for rows of a day no dated partition covers. */
export const STATUS_DEFAULT_PARTITION = "messages_default";

/** Every column of the status table, in its order (for copying rows between tables of that shape). */
export const STATUS_COLUMNS = [
  "message_id",
  "entity",
  "status",
  "stream_seq",
  "received_at",
  "processed_at",
  "attempts",
  "error",
  "next_attempt_at",
  "history",
  "body_sha256",
] as const;
