/**
 * nomnom's per-message status rows (schema `nomnom`): written in the same transaction as a message's data when
 * it completes, and on its own when a message is dead-lettered.
 */
import type { Sql } from "./connect.ts";
import { UPSERT_STATUS } from "./statements.ts";

export type MessageStatus = "accepted" | "processing" | "retrying" | "completed" | "dlq";

export type StatusRow = {
  messageId: string;
  entity: string;
  status: MessageStatus;
  seq: number;
  receivedAt?: Date;
  attempts: number;
  error?: string;
};

/** Upsert status rows in one statement (duplicates by id keep the last). */
export async function upsertStatuses(sql: Sql, rows: StatusRow[]): Promise<void> {
  const unique = [...new Map(rows.map((r) => [r.messageId, r])).values()];
  if (unique.length === 0) return;
  await sql.unsafe(UPSERT_STATUS, [
    unique.map((r) => r.messageId),
    unique.map((r) => r.entity),
    unique.map((r) => r.status),
    unique.map((r) => String(r.seq)),
    unique.map((r) => r.receivedAt?.toISOString() ?? null),
    unique.map((r) => String(r.attempts)),
    unique.map((r) => r.error ?? null),
  ], { prepare: true });
}
