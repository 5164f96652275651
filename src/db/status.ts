/**
 * nomnom's per-message status rows (schema `nomnom`): written in the same transaction as a message's data when
 * it completes, on their own when a message is retried, dead-lettered, replayed or dropped. Each change is also
 * appended to the row's history.
 */
import type { Sql } from "./connect.ts";
import { NOMNOM_SCHEMA, UPSERT_STATUS } from "./statements.ts";

export const STATUSES = ["accepted", "processing", "retrying", "completed", "dlq", "dropped"] as const;
export type MessageStatus = (typeof STATUSES)[number];

export type StatusRow = {
  messageId: string;
  entity: string;
  status: MessageStatus;
  seq?: number;
  receivedAt?: Date;
  attempts: number;
  error?: string;
  nextAttemptAt?: Date;
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
  history: { status: MessageStatus; at: string; attempts?: number; error?: string }[];
};

/** Upsert status rows in one statement (duplicates by id keep the last). */
export async function upsertStatuses(sql: Sql, rows: StatusRow[]): Promise<void> {
  const unique = [...new Map(rows.map((r) => [r.messageId, r])).values()];
  if (unique.length === 0) return;
  await sql.unsafe(UPSERT_STATUS, [
    unique.map((r) => r.messageId),
    unique.map((r) => r.entity),
    unique.map((r) => r.status),
    unique.map((r) => (r.seq === undefined ? null : String(r.seq))),
    unique.map((r) => r.receivedAt?.toISOString() ?? null),
    unique.map((r) => String(r.attempts)),
    unique.map((r) => r.error ?? null),
    unique.map((r) => r.nextAttemptAt?.toISOString() ?? null),
  ], { prepare: true });
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
