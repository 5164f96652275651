/**
 * The dashboard's data view: the latest rows of an entity's table, newest first, paged by the identity column,
 * and the derived rows of one root (by `_root_key`, indexed). Every value is selected as PostgreSQL's own text
 * of it (`col::text`): bigint beyond 2^53, numeric with its scale, timestamps with microseconds and JSON arrive
 * exactly as the database holds them (a JSON number in a browser would round them), and SQL NULL stays null.
 */
import type { z } from "zod";
import type { DashboardRows } from "../api/contract.ts";
import type { Sql } from "../db/connect.ts";
import { canonicalKeyValue } from "../registry/key.ts";
import { DERIVED_META_COLUMNS, META_COLUMNS, sqlIdent } from "../registry/names.ts";
import type { Entity, Registry } from "../registry/types.ts";

/** One page of rows: column names, then each row's values as PostgreSQL's text (null for NULL). */
export type RowsPage = z.output<typeof DashboardRows>;

export type RowsQuery = { before?: string; limit?: number; rootKey?: string };

/** Rows per page unless asked; the most a page may hold. */
export const ROWS_PAGE = { default: 10, max: 200 } as const;

/** The table's columns as the migration creates them: the identity, the entity's columns, nomnom's own. */
export function tableColumns(entity: Entity): string[] {
  const s = entity.storage!;
  const meta = Object.keys({ ...META_COLUMNS, ...(entity.kind === "derived" ? DERIVED_META_COLUMNS : {}) });
  return [s.idColumn, ...s.columns.map((c) => c.name), ...meta];
}

/** The derived entities whose rows carry a root's `_root_key` (children, grandchildren, …), stored ones only. */
export function descendantsOf(registry: Registry, entity: Entity): Entity[] {
  const out: Entity[] = [];
  const visit = (e: Entity) => {
    for (const name of e.children) {
      const child = registry.entities.get(name)!;
      if (child.storage) out.push(child);
      visit(child);
    }
  };
  visit(entity);
  return out;
}

/** Read a page of `entity`'s rows. `before` must be an id this API returned (digits); checked by the caller. */
export async function readRows(
  sql: Sql,
  registry: Registry,
  entity: Entity,
  query: RowsQuery = {},
): Promise<RowsPage> {
  const s = entity.storage!;
  const limit = Math.min(Math.max(query.limit ?? ROWS_PAGE.default, 1), ROWS_PAGE.max);
  const columns = tableColumns(entity);
  const withKeys = entity.kind !== "derived" && descendantsOf(registry, entity).length > 0;
  // The key columns once more as JSON (types kept), to compute the text the worker stored as children's
  // _root_key with the same canonicalization (src/registry/key.ts).
  const keyColumns = withKeys ? (s.naturalKey ? s.key : ["_message_id"]) : [];
  const select = [
    // Qualified with the table's alias: ORDER BY "id" would otherwise sort by the text output column of that
    // name ("99" after "946").
    ...columns.map((c) => `t.${sqlIdent(c)}::text AS ${sqlIdent(c)}`),
    ...keyColumns.map((c) => `to_json(t.${sqlIdent(c)})::text`),
  ];
  const where: string[] = [];
  const params: string[] = [];
  if (query.before !== undefined) {
    params.push(query.before);
    where.push(`t.${sqlIdent(s.idColumn)} < $${params.length}::bigint`);
  }
  if (query.rootKey !== undefined) {
    params.push(query.rootKey);
    where.push(`t."_root_key" = $${params.length}`);
  }
  const text = `SELECT ${select.join(", ")} FROM ${sqlIdent(s.table)} AS t` +
    (where.length ? ` WHERE ${where.join(" AND ")}` : "") +
    ` ORDER BY t.${sqlIdent(s.idColumn)} DESC LIMIT ${limit + 1}`;
  const result = await sql.unsafe(text, params).values();
  const page = result.slice(0, limit) as unknown as (string | null)[][];
  const rows = page.map((r) => r.slice(0, columns.length));
  const out: RowsPage = {
    entity: entity.name,
    table: s.table,
    columns,
    rows,
    next_before: result.length > limit ? rows[limit - 1][0] : null,
  };
  if (withKeys) {
    out.root_keys = page.map((r) => rootKeyOf(entity, r.slice(columns.length) as string[]));
  }
  return out;
}

/**
 * The `_root_key` of a root row from its key columns' JSON text: what `createKeyOf()` gave the worker for the
 * message that wrote it. bigint and numeric stay text (exact); the rest are parsed as the message had them.
 */
function rootKeyOf(entity: Entity, jsonTexts: string[]): string {
  const s = entity.storage!;
  if (!s.naturalKey) return JSON.stringify([JSON.parse(jsonTexts[0])]);
  return JSON.stringify(s.key.map((name, i) => {
    const type = s.columns.find((c) => c.name === name)?.type;
    const raw = jsonTexts[i];
    const value = type === "bigint" || type === "decimal" ? raw : JSON.parse(raw);
    return canonicalKeyValue(type, value);
  }));
}
