/**
 * Writing one batch of decoded messages in ONE transaction: root rows, derived rows (a message's children
 * replace the previous ones of the same root), and each message's status row. Multi-row `unnest` statements,
 * one per entity, never one statement per row; rows sorted by key so that concurrent workers lock in the same
 * order (no deadlocks); duplicate keys within the batch keep the message that came last in the stream.
 */
import type { DecodedMessage } from "../registry/derive.ts";
import { toSqlText } from "../registry/field_types.ts";
import { createKeyOf } from "../registry/key.ts";
import type { MetaColumn } from "../registry/names.ts";
import type { Entity, Registry } from "../registry/types.ts";
import type { Sql } from "./connect.ts";
import { createEntityStatements, type EntityStatements } from "./statements.ts";
import { upsertStatuses } from "./status.ts";
import { textArray, textArrayOf } from "./text_array.ts";

/** One message of the batch, decoded, with where it sits in the stream. */
export type BatchItem = {
  messageId: string;
  /** JetStream stream sequence: the version guard (later in the stream wins). */
  seq: number;
  attempts: number;
  /** When the API accepted it (see `acceptedAt()` in src/stream/envelope.ts); keys its status row. */
  receivedAt: Date;
  /** Of a message sent with an Idempotency-Key (src/stream/envelope.ts). */
  bodySha256?: string;
  decoded: DecodedMessage;
};

/** Statements per entity, prepared once from the registry. */
export type WritePlan = {
  registry: Registry;
  statements: Map<string, EntityStatements>;
  /** For each ingestible entity: its stored descendants, parents first. */
  descendants: Map<string, Entity[]>;
  /** Derived entities whose table has rows from before nomnom (no `_root_key`): see `deleteLegacyChildren`. */
  legacyChildren: ReadonlySet<string>;
};

/** Build the write plan (pure). */
export function createWritePlan(
  registry: Registry,
  legacyChildren: ReadonlySet<string> = new Set(),
): WritePlan {
  const statements = new Map(
    registry.stored.map((e) => [e.name, createEntityStatements(e, registry.entities.get(e.root))]),
  );
  const descendants = new Map(
    registry.ingestible.map((root) => [
      root.name,
      [...registry.entities.values()].filter((e) =>
        e.kind === "derived" && e.root === root.name && e.storage
      ),
    ]),
  );
  return { registry, statements, descendants, legacyChildren };
}

/**
 * One row of an upsert: an instance's values, its key (registry/key.ts, computed once) and the meta columns
 * nomnom adds. The parameters are read from these directly: no row object with the meta columns spread in.
 */
export type Row = {
  values: Record<string, unknown>;
  key: string;
  messageId: string;
  seq: number;
  /** Derived rows: their root's key and their position among the message's instances of the entity. */
  rootKey?: string;
  index?: number;
};

/** Write `items` and mark them completed, all in one transaction. Throws the database's error unchanged. */
export async function writeBatch(sql: Sql, plan: WritePlan, items: BatchItem[]): Promise<void> {
  if (items.length === 0) return;
  const byEntity = new Map<string, BatchItem[]>();
  for (const item of items) {
    const list = byEntity.get(item.decoded.entity.name) ?? [];
    list.push(item);
    byEntity.set(item.decoded.entity.name, list);
  }
  await sql.begin(async (tx) => {
    const run = (text: string, params: string[]) => {
      const query = tx.unsafe(text, params, { prepare: true });
      // Sent now, in the order written (postgres.js sends a query on its first then/catch); its error is read
      // where the group is awaited.
      query.catch(() => {});
      return query;
    };
    // Statements that need no answer before the next one are sent together (postgres.js pipelines the queries
    // of a transaction that are issued before the previous ones answer): a root upsert is awaited (its RETURNING
    // picks the winners), then its children's deletes and upserts go in one round trip, and the status rows with
    // the last of them. The order of the statements, and so the order rows are locked in, is unchanged. Each
    // group is awaited with Promise.all, which rejects with the first error in the pipeline (the statements after
    // a failed one only report the aborted transaction, 25P02).
    let sent: Promise<unknown>[] = [];
    const settle = async () => {
      const group = sent;
      sent = [];
      await Promise.all(group);
    };
    for (const entity of plan.registry.ingestible) {
      const group = byEntity.get(entity.name);
      if (!group) continue;
      // Children find their root by this text: canonical, so 5 and "5" (a bigint key) are one root. It is also
      // the root row's key (a root without unicity fields is keyed by its message id).
      const naturalKeyOf = entity.storage?.naturalKey ? createKeyOf(entity) : undefined;
      const rootKeys = group.map((item) =>
        naturalKeyOf ? naturalKeyOf(item.decoded.root) : JSON.stringify([item.messageId])
      );
      // Winners: the messages whose root row was written (the newest for its key); their old children go.
      let winners = group.map((_, i) => i);
      const rootStatements = plan.statements.get(entity.name);
      if (rootStatements) {
        const rows = group.map((item, i): Row => ({
          values: item.decoded.root,
          key: rootKeys[i],
          messageId: item.messageId,
          seq: item.seq,
        }));
        const upsert = run(rootStatements.upsert, toParams(rootStatements, newestByKey(rows)));
        sent.push(upsert);
        await settle();
        const written = await upsert;
        const applied = new Set(written.map((r) => Number(r._seq)));
        winners = winners.filter((i) => applied.has(group[i].seq));
      }
      if (winners.length === 0) continue;
      const keys = winners.map((i) => rootKeys[i]);
      const newest = String(Math.max(...winners.map((i) => group[i].seq)));
      for (const child of plan.descendants.get(entity.name) ?? []) {
        const st = plan.statements.get(child.name)!;
        sent.push(run(st.deleteStaleChildren!, [textArray(keys), newest]));
        const legacy = plan.legacyChildren.has(child.name) ? st.deleteLegacyChildren : undefined;
        if (legacy) {
          const types = new Map(entity.storage!.columns.map((c) => [c.name, c.type]));
          sent.push(run(
            legacy.text,
            legacy.rootFields.map((f) =>
              textArrayOf(winners, (i) => toSqlText(types.get(f)!, group[i].decoded.root[f]))
            ),
          ));
        }
        const childKeyOf = createKeyOf(child);
        const natural = child.storage!.naturalKey;
        const rows: Row[] = [];
        for (const i of winners) {
          const item = group[i];
          for (const instance of item.decoded.derived.get(child.name) ?? []) {
            rows.push({
              values: instance.values,
              // Computed once: by decodeMessage()'s duplicate check when it had to compare, else here.
              key: natural
                ? instance.key ?? childKeyOf(instance.values)
                : childKeyOf({ _message_id: item.messageId, _index: instance.index }),
              messageId: item.messageId,
              seq: item.seq,
              rootKey: rootKeys[i],
              index: instance.index,
            });
          }
        }
        if (rows.length > 0) sent.push(run(st.upsert, toParams(st, newestByKey(rows))));
      }
    }
    sent.push(upsertStatuses(
      tx as unknown as Sql,
      items.map((i) => ({
        messageId: i.messageId,
        entity: i.decoded.entity.name,
        status: "completed",
        seq: i.seq,
        receivedAt: i.receivedAt,
        attempts: i.attempts,
        bodySha256: i.bodySha256,
      })),
    ));
    await settle();
  });
}

/**
 * One row per key (the highest `seq` wins), sorted by key. Keys are compared in PostgreSQL's terms (see
 * registry/key.ts): two rows PostgreSQL sees as one key in one upsert fail it with 21000.
 */
export function newestByKey(rows: Row[]): Row[] {
  const newest = new Map<string, Row>();
  for (const row of rows) {
    const seen = newest.get(row.key);
    if (!seen || seen.seq < row.seq) newest.set(row.key, row);
  }
  return [...newest.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** How each parameter of an upsert is read from a row: a stored column's value, or a meta column. */
const META_TEXT: Record<MetaColumn, ((row: Row) => string) | undefined> = {
  _message_id: (row) => row.messageId,
  _seq: (row) => String(row.seq),
  _root_key: (row) => row.rootKey!,
  _index: (row) => String(row.index),
  _updated_at: undefined, // PostgreSQL's default, never a parameter
};

/** One `text[]` literal per parameter of the upsert (src/db/text_array.ts), read straight from the rows. */
function toParams(st: EntityStatements, rows: Row[]): string[] {
  const types = new Map(st.entity.storage!.columns.map((c) => [c.name, c.type]));
  return st.params.map((name) => {
    const type = types.get(name);
    if (type) return textArrayOf(rows, (row) => toSqlText(type, row.values[name]));
    const meta = META_TEXT[name as MetaColumn];
    if (!meta) throw new Error(`upsert parameter "${name}" is neither a stored column nor a meta column`);
    return textArrayOf(rows, meta);
  });
}
