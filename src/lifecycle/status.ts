/**
 * "Where is message X and why?" for any id the API ever returned. A message is always in at least one of two
 * places: its status row (written in the transaction that completes it, or when it is retried, dead-lettered or
 * replayed) or the ingest stream (from the JetStream ack before the 202 until the worker's ack, which comes only
 * after its commit). So: look in the database, then in the stream (by subject, the id being the last token), then
 * in the database again in case the worker committed and acked between the two looks.
 */
import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import type { Sql } from "../db/connect.ts";
import type { Status } from "../api/contract.ts";
import { hideValues } from "../db/error_values.ts";
import { readStatuses } from "../db/status.ts";
import { NOMNOM_SCHEMA } from "../db/statements.ts";
import { readBodySha256, readReceivedAt } from "../stream/envelope.ts";
import type { Topology } from "../stream/topology.ts";

/** A message's status as the API reports it (the contract's Status). */
export type StatusView = Status;

/** Finds statuses (a small interface: the API depends on it, not on NATS or PostgreSQL). */
export type StatusFinder = {
  find(ids: string[]): Promise<Map<string, StatusView>>;
  /**
   * The body hash a message sent with an Idempotency-Key was accepted with: from its status row, else from the
   * ingest stream; undefined when neither has one (unknown, or accepted before hashes were kept).
   */
  bodySha256(entity: string, id: string): Promise<string | undefined>;
};

/** A status (or dead letter) with the row values taken out of its error and its history's errors. */
export function withoutValues<T extends { error?: string | null; history?: { error?: string }[] }>(s: T): T {
  return {
    ...s,
    ...(s.error ? { error: hideValues(s.error) } : {}),
    ...(s.history
      ? { history: s.history.map((e) => (e.error ? { ...e, error: hideValues(e.error) } : e)) }
      : {}),
  };
}

/** Stream lookups a status request keeps in flight: enough to hide latency, few enough not to flood the server. */
const LOOKUPS_IN_FLIGHT = 256;

/** Create the finder over the status table and the ingest stream. */
export function createStatusFinder(sql: Sql, jsm: JetStreamManager, topology: Topology): StatusFinder {
  const entities = topology.routes.map((r) => r.entity);
  const inStream = async (ids: string[]): Promise<Map<string, StatusView>> => {
    const found = new Map<string, StatusView>();
    // One lookup per ingestible entity, each by the literal subject `<ns>.ingest.<Entity>.<id>`: the server finds
    // a literal subject in its index, while a wildcard in place of the entity made it scan the backlog (a batch
    // status request for 1,000 ids timed out behind a large one). At most LOOKUPS_IN_FLIGHT requests at once.
    const lookups = ids.flatMap((id) =>
      entities.map((entity) => ({ id, subject: topology.ingestSubject(entity, id) }))
    );
    const results = await mapLimited(
      lookups,
      LOOKUPS_IN_FLIGHT,
      (l) => jsm.streams.getMessage(topology.ingest.name, { last_by_subj: l.subject }),
    );
    const byId = new Map<string, StoredMsg>();
    results.forEach((m, i) => {
      if (m) byId.set(lookups[i].id, m);
    });
    const messages = ids.map((id) => byId.get(id) ?? null);
    if (!messages.some(Boolean)) return found;
    // Delivered but not yet acked = being processed right now (or waiting for a redelivery).
    const consumer = await jsm.consumers.info(topology.consumer.stream, topology.consumer.durable_name!)
      .catch(() => undefined);
    messages.forEach((m, i) => {
      if (!m) return;
      const receivedAt = readReceivedAt(m.header) ?? m.time;
      const delivered = consumer ? m.seq <= consumer.delivered.stream_seq : false;
      found.set(ids[i], {
        message_id: ids[i],
        entity: topology.parseSubject(m.subject).entity,
        status: delivered ? "processing" : "accepted",
        received_at: receivedAt.toISOString(),
        processed_at: null,
        attempts: 0,
        error: null,
        next_attempt_at: null,
      });
    });
    return found;
  };

  return {
    async find(ids) {
      const result = new Map<string, StatusView>(await readStatuses(sql, ids));
      let missing = ids.filter((id) => !result.has(id));
      if (missing.length === 0) return result;
      for (const [id, view] of await inStream(missing)) result.set(id, view);
      missing = missing.filter((id) => !result.has(id));
      for (const [id, view] of await readStatuses(sql, missing)) result.set(id, view);
      return result;
    },
    async bodySha256(entity, id) {
      const fromRow = async () => {
        const [row] = await sql.unsafe(
          `SELECT body_sha256 FROM ${NOMNOM_SCHEMA}.messages WHERE message_id = $1`,
          [id],
        );
        return row ? (row.body_sha256 as string | null) ?? undefined : null;
      };
      // Row, then stream, then row again: the worker may commit and ack between the first two looks.
      const first = await fromRow();
      if (first !== null) return first;
      const m = await jsm.streams.getMessage(topology.ingest.name, {
        last_by_subj: topology.ingestSubject(entity, id),
      });
      if (m) return readBodySha256(m.header);
      return (await fromRow()) ?? undefined;
    },
  };
}

/** `fn` over `items` with at most `limit` calls pending; results in the order of `items`. */
async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
