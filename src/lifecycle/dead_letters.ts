/**
 * The dead-letter queue as users see it: list (from the status table, filterable and paginated), show (status,
 * history and the original message from the dead-letter stream), replay (re-publish under a NEW JetStream
 * msgID, so the dedup window cannot swallow it; status back to `accepted`, history kept; entry removed from the
 * DLQ) and drop. Replay and drop first claim the message's status row (locked, still `dlq`), so each happens at
 * most once however many clients ask at the same time. Used by the API and by `nomnom dlq`.
 */
import type { JetStreamClient, JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import type { DeadLetter, DeadLetterPage, DlqFilter, Replayed, ReplayReport } from "../api/contract.ts";
import { v7 as uuidv7 } from "uuid";
import type { Sql } from "../db/connect.ts";
import { hideValues } from "../db/error_values.ts";
import { NOMNOM_SCHEMA } from "../db/statements.ts";
import { readStatuses, toStoredStatus, upsertStatuses } from "../db/status.ts";
import { createEnvelopeHeaders, DLQ_HEADERS } from "../stream/envelope.ts";
import { isMessageId } from "../stream/message_id.ts";
import type { Topology } from "../stream/topology.ts";

/** Dead letters per page: the default, and the most one page holds (API `limit`, `nomnom dlq list --limit`). */
export const DLQ_PAGE = { default: 100, max: 1000 } as const;

export type { DlqFilter, ReplayReport };

export type DeadLetters = {
  /**
   * A page of dead letters. `hideValues`: the reader sees errors without row values (src/db/error_values.ts),
   * so `filter.error` must match that text, or a reader could find a value by guessing it.
   */
  list(
    filter: DlqFilter,
    page?: { limit?: number; cursor?: string; hideValues?: boolean },
  ): Promise<DeadLetterPage>;
  show(id: string): Promise<DeadLetter | undefined>;
  /** Replay one message; undefined for an unknown id, DlqConflictError when it is not in the DLQ. */
  replay(id: string): Promise<Replayed | undefined>;
  replayMatching(
    filter: DlqFilter,
    onProgress?: (done: number, total: number) => void,
  ): Promise<ReplayReport>;
  /** Remove one message from the DLQ for good (status `dropped`); false for an unknown id, DlqConflictError when it is not in the DLQ. */
  drop(id: string): Promise<boolean>;
};

/** A filter or cursor PostgreSQL could not take; `parameter` names it, and the message starts with it in quotes. */
export class DlqFilterError extends Error {
  override name = "DlqFilterError";
  constructor(readonly parameter: string, problem: string) {
    super(`"${parameter}" ${problem}`);
  }
}

/** The message is known but not (any more) in the dead-letter queue: replayed or dropped, e.g. concurrently. */
export class DlqConflictError extends Error {
  override name = "DlqConflictError";
}

/** A dead letter's status row, locked by `claim`. */
type ClaimedRow = { entity: string; attempts: number; receivedAt: Date; bodySha256?: string };

export function createDeadLetters(
  sql: Sql,
  js: JetStreamClient,
  jsm: JetStreamManager,
  topology: Topology,
): DeadLetters {
  // By the literal subject of the message's entity (from its status row): a wildcard subject makes the server
  // scan the stream.
  const stored = (entity: string, id: string): Promise<StoredMsg | null> =>
    jsm.streams.getMessage(topology.dlq.name, { last_by_subj: topology.dlqSubject(entity, id) });
  /**
   * Remove exactly the entry that was replayed or dropped, by its sequence in the DLQ stream. Never by subject:
   * between the claim's commit and this call, a worker may dead-letter the replayed message again (its cause
   * still present) or another replay may move it, and their newer entry under the same subject must survive.
   * If that newer entry already replaced ours (one entry per subject), there is nothing left to delete. A
   * failure here only leaves an entry nobody lists (the DLQ is listed from the status table) that the next move
   * of the message replaces, so it is not worth failing a replay or drop that already happened.
   */
  const remove = (seq: number | undefined): Promise<void> =>
    seq === undefined
      ? Promise.resolve()
      : jsm.streams.deleteMessage(topology.dlq.name, seq, false).then(() => {}, () => {});

  /**
   * Claim a dead letter: lock its status row and check it is still `dlq`, so that of two concurrent replays (or
   * a replay and a drop) exactly one acts. Runs `act` in the transaction holding the lock; undefined when the id
   * is unknown.
   */
  const claim = async <T>(
    id: string,
    act: (tx: Sql, row: ClaimedRow) => Promise<T>,
  ): Promise<T | undefined> => {
    const result = await sql.begin(async (tx) => {
      const [row] = await tx.unsafe(
        `SELECT entity, status, attempts, received_at, body_sha256 FROM ${NOMNOM_SCHEMA}.messages
         WHERE message_id = $1 FOR UPDATE`,
        [id],
      );
      if (!row) return { found: false as const };
      if (row.status !== "dlq") {
        throw new DlqConflictError(
          `message ${id} is not in the dead-letter queue: its status is ${row.status}`,
        );
      }
      const value = await act(tx as unknown as Sql, {
        entity: row.entity,
        attempts: Number(row.attempts),
        receivedAt: row.received_at,
        bodySha256: row.body_sha256 ?? undefined,
      });
      return { found: true as const, value };
    });
    return result.found ? result.value : undefined;
  };

  const list: DeadLetters["list"] = async (filter, page = {}) => {
    const limit = Math.min(Math.max(page.limit ?? DLQ_PAGE.default, 1), DLQ_PAGE.max);
    checkDlqFilter(filter, page.cursor);
    let after: [string, string] | [null, null] = page.cursor ? decodeCursor(page.cursor) : [null, null];
    // The text a reader without values may match against: SQL finds candidates, this drops those whose match
    // was inside a hidden value (so a page may be read in more than one query).
    const needle = page.hideValues && filter.error ? filter.error.toLowerCase() : undefined;
    const kept: Record<string, unknown>[] = [];
    for (;;) {
      const want = limit + 1 - kept.length;
      const rows = await sql.unsafe(
        `SELECT message_id, entity, status, received_at, processed_at, attempts, error, history,
           processed_at::text AS cursor_at
         FROM ${NOMNOM_SCHEMA}.messages
         WHERE status = 'dlq'
           AND ($1::text IS NULL OR lower(entity) = lower($1))
           AND ($2::text IS NULL OR error ILIKE '%' || $2 || '%' ESCAPE '\\')
           AND ($3::timestamptz IS NULL OR processed_at >= $3)
           AND ($4::timestamptz IS NULL OR processed_at < $4)
           AND ($5::text IS NULL OR (processed_at, message_id) > ($5::text::timestamptz, $6::text))
         ORDER BY processed_at, message_id
         LIMIT $7`,
        [
          filter.entity ?? null,
          filter.error ? escapeLike(filter.error) : null,
          date(filter.since, "since"),
          date(filter.until, "until"),
          after[0],
          after[1] ?? "",
          want,
        ],
      );
      kept.push(
        ...(needle === undefined
          ? rows
          : rows.filter((r) => hideValues(String(r.error ?? "")).toLowerCase().includes(needle))),
      );
      if (needle === undefined || kept.length > limit || rows.length < want) break;
      const last = rows[rows.length - 1];
      after = [last.cursor_at as string, last.message_id as string];
    }
    const entries = kept.slice(0, limit).map((r) => {
      const s = toStoredStatus(r);
      return { ...s, dead_at: s.processed_at };
    });
    // The cursor keeps PostgreSQL's own text of the timestamp, with its microseconds, and goes back as text: a JS
    // Date (which postgres.js makes of a timestamptz parameter) would cut them to milliseconds.
    const last = kept[limit - 1];
    return {
      entries,
      next_cursor: kept.length > limit
        ? encodeCursor(last.cursor_at as string, last.message_id as string)
        : null,
    };
  };

  const replay: DeadLetters["replay"] = async (id) => {
    const claimed = await claim(id, async (tx, row) => {
      const m = await stored(row.entity, id);
      if (!m) {
        throw new DlqConflictError(
          `message ${id} is listed as dead-lettered but its entry is gone from the DLQ`,
        );
      }
      // Published while the row is locked, so no other replay can publish it too; the status (with the new stream
      // sequence) commits with the claim. A worker completing the message meanwhile waits for this lock.
      // The original acceptance time and body hash travel again: the status row is keyed by that time (so every
      // write of the message lands on this row), and a repeat of its Idempotency-Key is still compared.
      const ack = await js.publish(topology.ingestSubject(row.entity, id), m.data, {
        msgID: `${id}:replay:${uuidv7()}`,
        headers: createEnvelopeHeaders(row.receivedAt, row.bodySha256),
      });
      await upsertStatuses(tx, [{
        messageId: id,
        entity: row.entity,
        status: "accepted",
        seq: ack.seq,
        receivedAt: row.receivedAt,
        attempts: row.attempts,
      }]);
      return { entity: row.entity, entrySeq: m.seq };
    });
    if (claimed === undefined) return undefined;
    await remove(claimed.entrySeq);
    return { message_id: id, entity: claimed.entity, status: "accepted" };
  };

  return {
    list,
    async show(id) {
      const [status] = (await readStatuses(sql, [id])).values();
      if (status?.status !== "dlq") return undefined;
      const m = await stored(status.entity, id);
      const text = m ? new TextDecoder().decode(m.data) : undefined;
      let message: unknown;
      try {
        message = text === undefined ? undefined : JSON.parse(text);
      } catch { /* not JSON: shown raw */ }
      const entry: DeadLetter = {
        ...status,
        dead_at: m?.header.get(DLQ_HEADERS.deadAt) || status.processed_at || null,
        dlq_seq: m?.seq,
      };
      if (message !== undefined) entry.message = message;
      else if (text !== undefined) entry.raw = text;
      return entry;
    },
    replay,
    async replayMatching(filter, onProgress) {
      const report: ReplayReport = { matched: 0, replayed: 0, failed: 0, errors: [] };
      // Collect the ids first: replaying changes the rows the listing pages through.
      const ids: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await list(filter, { limit: DLQ_PAGE.max, cursor });
        ids.push(...page.entries.map((e) => e.message_id));
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      report.matched = ids.length;
      for (const [i, id] of ids.entries()) {
        try {
          if (await replay(id)) report.replayed++;
          else throw new Error("unknown message id");
        } catch (error) {
          report.failed++;
          if (report.errors.length < 20) report.errors.push(`${id}: ${(error as Error).message}`);
        }
        onProgress?.(i + 1, ids.length);
      }
      return report;
    },
    async drop(id) {
      const claimed = await claim(id, async (tx, row) => {
        const m = await stored(row.entity, id);
        await upsertStatuses(tx, [{
          messageId: id,
          entity: row.entity,
          status: "dropped",
          receivedAt: row.receivedAt,
          attempts: row.attempts,
        }]);
        return { entrySeq: m?.seq };
      });
      if (claimed === undefined) return false;
      await remove(claimed.entrySeq);
      return true;
    },
  };
}

/** The text of a LIKE pattern that matches `value` literally (`%`, `_` and the escape `\` escaped). */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, "\\$&");
}

/** PostgreSQL's timestamptz takes years 4713 BC to 294276 AD; JavaScript dates go further, so bound them. */
const EARLIEST = Date.UTC(1, 0, 1);
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * Check a filter and cursor before they reach PostgreSQL, where a date out of range, a NUL character or an
 * edited cursor would fail inside the query (SQLSTATE 22xxx) instead of naming the parameter. Throws
 * DlqFilterError whose message starts with the parameter's name in quotes.
 */
export function checkDlqFilter(filter: DlqFilter, cursor?: string): void {
  for (const [name, value] of Object.entries({ ...filter, cursor })) {
    if (value === undefined) continue;
    if (typeof value !== "string") throw new DlqFilterError(name, "must be a string");
    // PostgreSQL text cannot hold U+0000 (SQLSTATE 22021).
    if (value.includes("\0")) throw new DlqFilterError(name, "must not contain a NUL character");
  }
  date(filter.since, "since");
  date(filter.until, "until");
  if (cursor !== undefined) decodeCursor(cursor);
}

function date(value: string | undefined, name: string): string | null {
  if (value === undefined || value === "") return null;
  const time = new Date(value).getTime();
  if (Number.isNaN(time) || time < EARLIEST || time > LATEST) {
    throw new DlqFilterError(name, "must be an ISO 8601 date or date-time (years 1 to 9999)");
  }
  return new Date(time).toISOString();
}

/** base64url: safe in a query string without escaping. */
function encodeCursor(at: string, id: string): string {
  return btoa(`${at}|${id}`).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** The (processed_at text, message id) a cursor of ours holds; anything else is a DlqFilterError. */
function decodeCursor(cursor: string): [string, string] {
  const invalid = () => new DlqFilterError("cursor", "is not a cursor this API returned");
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let text: string;
  try {
    text = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    throw invalid();
  }
  const [at, id, ...rest] = text.split("|");
  if (rest.length > 0 || !at || !id || !isMessageId(id)) throw invalid();
  // PostgreSQL's text of a timestamptz, "2026-01-02 03:04:05.123456+00", every field in range (JavaScript would
  // roll February 30 over into March; PostgreSQL rejects it).
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(\.\d{1,6})?[+-]\d\d(:\d\d){0,2}$/.exec(at);
  if (!m) throw invalid();
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  if (
    t.getUTCFullYear() !== y || t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d || t.getUTCHours() !== h ||
    t.getUTCMinutes() !== mi || t.getUTCSeconds() !== s
  ) throw invalid();
  return [at, id];
}
