/**
 * nomnom's per-message status rows (schema `nomnom`): written in the same transaction as a message's data when
 * it completes, on their own when a message is retried, dead-lettered, replayed or dropped. Each change is also
 * appended to the row's history.
 */
import type { Sql } from "./connect.ts";
import { NOMNOM_SCHEMA } from "./statements.ts";
import { textArray } from "./text_array.ts";

/** Every status a message can have. `processing` is never stored: it is read from the consumer's position. */
export const STATUSES = ["accepted", "processing", "retrying", "completed", "dlq", "dropped"] as const;
export type MessageStatus = (typeof STATUSES)[number];

/** Where a message's journey ends, unless a newer stream message or a move out of the DLQ takes it further. */
export const FINAL_STATUSES = ["completed", "dlq", "dropped"] as const satisfies readonly MessageStatus[];

/** SQL list of statuses: `('completed', 'dlq')` (the names are ours, plain identifiers). */
const sqlList = (statuses: readonly MessageStatus[]) => `(${statuses.map((s) => `'${s}'`).join(", ")})`;

export type StatusRow = {
  messageId: string;
  entity: string;
  status: MessageStatus;
  seq?: number;
  /**
   * When the API accepted the message (its `Nomnom-Received-At` header; the stream's time for a message nomnom
   * did not publish). Part of the status table's key (its partition key): every write of a message gives the same.
   */
  receivedAt: Date;
  attempts: number;
  error?: string;
  nextAttemptAt?: Date;
  /** Of a message sent with an Idempotency-Key; kept once set. */
  bodySha256?: string;
  /**
   * A delivery held back because the entity's table does not match (not an attempt): marked in the history so
   * that it does not count against the retry budget (see `countFailures()`).
   */
  held?: boolean;
};

/** A stored status, as the API reports it. */
export type StoredStatus = {
  message_id: string;
  entity: string;
  status: MessageStatus;
  received_at: string | null;
  processed_at: string | null;
  attempts: number;
  error: string | null;
  next_attempt_at: string | null;
  history: { status: MessageStatus; at: string; attempts?: number; error?: string; held?: boolean }[];
};

/**
 * Upsert of a batch of status rows, appending one event per row to its history. Parameters: ids, entities,
 * statuses, seqs, received_at, attempts, errors, next_attempt_at, body_sha256, held (all text[]).
 *
 * The guard: a write never takes a message back in time. A write from an older stream message (lower stream_seq)
 * changes nothing, and a final status (completed, dlq, dropped) is only replaced by a write from a newer stream
 * message, or by the two moves out of the DLQ: replay (dlq → accepted) and drop (dlq → dropped). So a late
 * `retrying` from a redelivery that lost a race cannot hide that the message completed or is in the DLQ.
 */
const UPSERT_STATUS = `INSERT INTO ${NOMNOM_SCHEMA}.messages AS m
  (message_id, entity, status, stream_seq, received_at, processed_at, attempts, error, next_attempt_at, history,
   body_sha256)
SELECT u.id, u.entity, u.status, u.seq::bigint, u.received_at::timestamptz, now(), u.attempts::integer, u.error,
  u.next_at::timestamptz,
  jsonb_build_array(jsonb_strip_nulls(jsonb_build_object('status', u.status, 'at', now(),
    'attempts', u.attempts::integer, 'error', u.error, 'held', u.held::boolean))),
  u.body_sha256
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
  $9::text[], $10::text[])
  AS u(id, entity, status, seq, received_at, attempts, error, next_at, body_sha256, held)
ON CONFLICT (message_id, received_at) DO UPDATE SET status = EXCLUDED.status,
  stream_seq = COALESCE(EXCLUDED.stream_seq, m.stream_seq),
  processed_at = EXCLUDED.processed_at, attempts = EXCLUDED.attempts, error = EXCLUDED.error,
  next_attempt_at = EXCLUDED.next_attempt_at, history = m.history || EXCLUDED.history,
  body_sha256 = COALESCE(m.body_sha256, EXCLUDED.body_sha256)
WHERE (EXCLUDED.stream_seq IS NULL OR m.stream_seq IS NULL OR EXCLUDED.stream_seq >= m.stream_seq)
  AND (m.status NOT IN ${sqlList(FINAL_STATUSES)}
    OR EXCLUDED.stream_seq > m.stream_seq
    OR (m.status = 'dlq' AND EXCLUDED.status IN ${sqlList(["accepted", "dropped"])}))`;

/** Upsert status rows in one statement (duplicates by id keep the last); see UPSERT_STATUS for the guard. */
export async function upsertStatuses(sql: Sql, rows: StatusRow[]): Promise<void> {
  const unique = [...new Map(rows.map((r) => [r.messageId, r])).values()];
  if (unique.length === 0) return;
  await sql.unsafe(UPSERT_STATUS, [
    textArray(unique.map((r) => r.messageId)),
    textArray(unique.map((r) => r.entity)),
    textArray(unique.map((r) => r.status)),
    textArray(unique.map((r) => (r.seq === undefined ? null : String(r.seq)))),
    textArray(unique.map((r) => r.receivedAt.toISOString())),
    textArray(unique.map((r) => String(r.attempts))),
    textArray(unique.map((r) => r.error ?? null)),
    textArray(unique.map((r) => r.nextAttemptAt?.toISOString() ?? null)),
    textArray(unique.map((r) => r.bodySha256 ?? null)),
    textArray(unique.map((r) => (r.held ? "true" : null))),
  ], { prepare: true });
}

/**
 * How many failed attempts each message has on record: its `retrying` history entries, less the deliveries held
 * back for a schema mismatch. The retry budget counts these, not JetStream's delivery count, which also counts
 * every held delivery (and max_deliver is unlimited, so the server never gives up on its own).
 */
export async function countFailures(sql: Sql, ids: string[]): Promise<Map<string, number>> {
  if (ids.length === 0) return new Map();
  const rows = await sql.unsafe(
    `SELECT message_id, (SELECT count(*)::int FROM jsonb_array_elements(history) e
                         WHERE e->>'status' = 'retrying' AND e->'held' IS NULL) AS failures
     FROM ${NOMNOM_SCHEMA}.messages WHERE message_id = ANY($1::text[])`,
    [ids],
    { prepare: true },
  );
  return new Map(rows.map((r) => [r.message_id as string, Number(r.failures)]));
}

/** The stored statuses of `ids` (missing ids are absent from the map). */
export async function readStatuses(sql: Sql, ids: string[]): Promise<Map<string, StoredStatus>> {
  if (ids.length === 0) return new Map();
  const rows = await sql.unsafe(
    `SELECT message_id, entity, status, received_at, processed_at, attempts, error, next_attempt_at, history
     FROM ${NOMNOM_SCHEMA}.messages WHERE message_id = ANY($1::text[])`,
    [ids],
    { prepare: true },
  );
  return new Map(rows.map((r) => [r.message_id as string, toStoredStatus(r)]));
}

/** Convert a `nomnom.messages` row (any subset of columns) to the API's shape. */
export function toStoredStatus(r: Record<string, unknown>): StoredStatus {
  const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : v == null ? null : String(v));
  return {
    message_id: r.message_id as string,
    entity: r.entity as string,
    status: r.status as MessageStatus,
    received_at: iso(r.received_at),
    processed_at: iso(r.processed_at),
    attempts: Number(r.attempts ?? 0),
    error: (r.error as string | null) ?? null,
    next_attempt_at: iso(r.next_attempt_at),
    history: (r.history as StoredStatus["history"]) ?? [],
  };
}
