/**
 * Settling one batch of messages: decode, write in one transaction, then ack. Nothing is acked before its rows
 * are committed. A failed batch is either retried later (transient: nak with an exponential delay) or split until
 * the message(s) the database rejects are found and dead-lettered alone, so one poison message never holds back
 * the others. I/O comes in through `BatchDeps`, so the policy is tested without NATS or PostgreSQL.
 */
import type { JsMsg } from "@nats-io/jetstream";
import type { BatchItem } from "../db/write_batch.ts";
import type { StatusRow } from "../db/status.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../observability/metrics.ts";
import { describeError } from "../db/sqlstate.ts";
import { isTransient } from "./classify.ts";
import { retryDelay, type RetrySettings, shouldGiveUp } from "./retry.ts";

/** Counters a worker keeps (read by tests and, later, metrics). */
export type WorkerCounters = { batches: number; completed: number; retried: number; deadLettered: number };

export type BatchDeps = {
  decode(msg: JsMsg): BatchItem;
  /** Write the items and their `completed` statuses in one transaction. */
  write(items: BatchItem[]): Promise<void>;
  /** Record `retrying` statuses (best effort: the database may be what is failing). */
  saveRetrying(rows: StatusRow[]): Promise<void>;
  /** Move a message to the DLQ: true once it is there and acked, false if it was nak'ed for a later try. */
  deadLetter(msg: JsMsg, error: Error): Promise<boolean>;
  /** Entity named by a message's subject (for metrics of messages that could not be decoded). */
  entityOf(msg: JsMsg): string;
  settings: RetrySettings;
  /**
   * The failed attempts on record for each message (see countFailures() in src/db/status.ts). Without it the
   * retry budget goes by JetStream's delivery count alone.
   */
  countFailures?(messageIds: string[]): Promise<Map<string, number>>;
  /** Entities whose tables do not match (src/db/schema_watch.ts); without it schema errors are retried. */
  schema?: SchemaHold;
  counters: WorkerCounters;
  log: Logger;
  metrics?: Metrics;
};

/** What the batch processor needs of the schema watch. */
export type SchemaHold = {
  isHeld(entity: string): boolean;
  /** Why `entity` is held (for its messages' status). */
  reason(entity: string): string;
  isMismatch(error: unknown): boolean;
  report(entity: string, error: Error): void;
  holdMs: number;
};

/** A message ready to write, with any other deliveries of the same stream message in the same batch. */
type Decoded = { msg: JsMsg; twins: JsMsg[]; item: BatchItem };

/** The `retrying` status row of a delivery that comes back in `delayMs` (held or failed: one shape for both). */
function retryingStatus(d: Decoded, error: string, delayMs: number): StatusRow {
  return {
    messageId: d.item.messageId,
    entity: d.item.decoded.entity.name,
    status: "retrying",
    seq: d.item.seq,
    receivedAt: d.item.receivedAt,
    attempts: d.item.attempts,
    bodySha256: d.item.bodySha256,
    error,
    nextAttemptAt: new Date(Date.now() + delayMs),
  };
}

/**
 * Deliveries after which a transient failure is suspected to be the message's own (a statement that always
 * times out on its rows, say) and the message is written apart from the rest of its batch.
 */
export const SPLIT_AFTER_DELIVERIES = 3;

/** Returns `processBatch(batch)`, which settles (acks or naks) every message of the batch. */
export function createBatchProcessor(deps: BatchDeps): (batch: JsMsg[]) => Promise<void> {
  const { settings, counters, log } = deps;
  const count = (entity: string, outcome: "completed" | "retried" | "dead_lettered", n = 1) =>
    deps.metrics?.processed.inc({ entity, outcome }, n);

  const deadLetter = async (msg: JsMsg, twins: JsMsg[], entity: string, error: Error) => {
    if (!await deps.deadLetter(msg, error)) return;
    for (const twin of twins) twin.ack();
    counters.deadLettered++;
    count(entity, "dead_lettered");
  };

  /** Ids whose `retrying` (held) status this process already recorded: one status write per held message. */
  const heldRecorded = new Set<string>();
  /**
   * Hold messages whose entity's table does not match: nak with the schema watch's interval, no attempt spent.
   * Why not fewer deliveries instead: the ingest stream has one durable consumer for every entity (one lag for
   * KEDA, one place a message can be), and a work-queue stream refuses a second consumer whose subjects overlap
   * it, so the server cannot be told to skip one entity. A held message is therefore delivered again after each
   * interval, and JetStream counts those deliveries; the consumer's max_deliver is unlimited (the server never
   * strands it), and the retry budget counts failed attempts on record, where a hold is marked as such
   * (countFailures()), not deliveries. The cost: held messages sit in the consumer's ack-pending window
   * (--max-ack-pending) until their entity is released.
   */
  const hold = async (group: Decoded[]): Promise<void> => {
    const schema = deps.schema!;
    const fresh = group.filter((d) => !heldRecorded.has(d.item.messageId));
    if (fresh.length > 0) {
      try {
        await deps.saveRetrying(fresh.map((d) => ({
          ...retryingStatus(
            d,
            `waiting for the table to match the entity: ${schema.reason(d.item.decoded.entity.name)}`,
            schema.holdMs,
          ),
          held: true,
        })));
        for (const d of fresh) heldRecorded.add(d.item.messageId);
      } catch (failure) {
        log.debug("could not record held status", { error: failure });
      }
    }
    for (const d of group) {
      d.msg.nak(schema.holdMs);
      for (const twin of d.twins) twin.nak(schema.holdMs);
    }
  };
  /** A write failed because a table changed: hold that entity (writing each entity apart to find which). */
  const schemaFailure = async (group: Decoded[], error: Error): Promise<void> => {
    const byEntity = new Map<string, Decoded[]>();
    for (const d of group) {
      const name = d.item.decoded.entity.name;
      byEntity.set(name, [...(byEntity.get(name) ?? []), d]);
    }
    if (byEntity.size > 1) {
      for (const part of byEntity.values()) await writeOrIsolate(part);
      return;
    }
    const [entity] = byEntity.keys();
    deps.schema!.report(entity, error);
    await hold(group);
  };
  /** Settle a group whose write failed: hold (schema), retry (transient) or isolate the rejected message. */
  const settle = async (group: Decoded[], error: Error): Promise<void> => {
    if (deps.schema?.isMismatch(error)) return await schemaFailure(group, error);
    if (isTransient(error)) return await retryOrSplit(group, error);
    await isolatePermanent(group, error);
  };
  /** Write `group`; undefined when it committed (and was acked), else the failure. */
  const tryWrite = async (group: Decoded[]): Promise<Error | undefined> => {
    try {
      const started = performance.now();
      await deps.write(group.map((d) => d.item));
      deps.metrics?.transactionSeconds.observe((performance.now() - started) / 1000);
    } catch (error) {
      return error as Error;
    }
    for (const d of group) {
      d.msg.ack();
      for (const twin of d.twins) twin.ack();
      count(d.item.decoded.entity.name, "completed");
      heldRecorded.delete(d.item.messageId);
    }
    counters.completed += group.length;
    return undefined;
  };

  /** Write the group; on a permanent failure, split it to find the rejected message(s). */
  const writeOrIsolate = async (group: Decoded[]): Promise<void> => {
    if (group.length === 0) return;
    const error = await tryWrite(group);
    if (error) await settle(group, error);
  };

  const isolatePermanent = async (group: Decoded[], error: Error): Promise<void> => {
    if (group.length === 1) {
      const [d] = group;
      return await deadLetter(d.msg, d.twins, d.item.decoded.entity.name, error);
    }
    const half = Math.ceil(group.length / 2);
    await writeOrIsolate(group.slice(0, half));
    await writeOrIsolate(group.slice(half));
  };

  /**
   * A transient failure. Messages that already failed SPLIT_AFTER_DELIVERIES times are suspects: the rest of the
   * batch is written without them, then each suspect alone, so one message that always times out cannot hold a
   * whole batch back. Two failures in a row with no success in between mean the cause is not one message (the
   * database is away, say): everything left waits for its retry, without an attempt per message.
   */
  const retryOrSplit = async (group: Decoded[], error: Error): Promise<void> => {
    const suspects = group.length > 1
      ? group.filter((d) => d.msg.info.deliveryCount >= SPLIT_AFTER_DELIVERIES)
      : [];
    if (suspects.length === 0) return await retryOrGiveUp(group, error);
    const rest = group.filter((d) => !suspects.includes(d));
    const parts = [...(rest.length > 0 ? [rest] : []), ...suspects.map((d) => [d])];
    let succeeded = false;
    for (const [i, part] of parts.entries()) {
      const failure = await tryWrite(part);
      if (!failure) {
        succeeded = true;
        continue;
      }
      if (deps.schema?.isMismatch(failure) || !isTransient(failure)) {
        await settle(part, failure);
        continue;
      }
      if (!succeeded && i > 0) return await retryOrGiveUp(parts.slice(i).flat(), failure);
      await retryOrGiveUp(part, failure);
    }
  };

  /**
   * Nak with an exponential delay, recording `retrying` where the database lets us. A message is only given up
   * (dead-lettered) once it has had `maxDeliver` attempts AND its retries have used the retry budget, so a
   * database that is down for minutes never sends healthy messages to the DLQ.
   */
  const retryOrGiveUp = async (group: Decoded[], error: Error): Promise<void> => {
    const retrying: Decoded[] = [];
    const candidates = group.filter((d) => shouldGiveUp(d.msg.info.deliveryCount, settings));
    // Deliveries are not attempts (a held message is delivered again and again): ask what is on record. If that
    // cannot be read, nothing is given up this time.
    const failures = candidates.length > 0 && deps.countFailures
      ? await deps.countFailures(candidates.map((d) => d.item.messageId)).catch(() =>
        new Map<string, number>()
      )
      : undefined;
    for (const d of group) {
      const giveUp = candidates.includes(d) &&
        (!failures || shouldGiveUp((failures.get(d.item.messageId) ?? 0) + 1, settings));
      if (giveUp) await deadLetter(d.msg, d.twins, d.item.decoded.entity.name, error);
      else retrying.push(d);
    }
    if (retrying.length === 0) return;
    const delays = retrying.map((d) =>
      retryDelay(d.msg.info.deliveryCount, settings.retryBaseMs, settings.retryMaxMs)
    );
    const reason = describeError(error);
    log.warn("write failed, will retry", { messages: retrying.length, error: reason, delay_ms: delays[0] });
    try {
      await deps.saveRetrying(retrying.map((d, i) => retryingStatus(d, reason, delays[i])));
    } catch (failure) {
      // The status is only informative; the nak below is what brings the message back.
      log.debug("could not record retrying status", { error: failure });
    }
    retrying.forEach((d, i) => {
      d.msg.nak(delays[i]);
      for (const twin of d.twins) twin.nak(delays[i]);
      count(d.item.decoded.entity.name, "retried");
    });
    counters.retried += retrying.length;
  };

  return async (batch) => {
    counters.batches++;
    deps.metrics?.batchSize.observe(batch.length);
    const started = performance.now();
    // The same stream message twice in one batch (a redelivery overtook it): written once; the other delivery is
    // settled with it, never acked before the commit (acking it would delete the message from the work queue).
    const bySeq = new Map<number, { msg: JsMsg; twins: JsMsg[] }>();
    // The newest delivery leads (its deliveryCount is the one retries and the DLQ decision go by).
    for (const msg of batch) {
      const first = bySeq.get(msg.seq);
      if (!first) bySeq.set(msg.seq, { msg, twins: [] });
      else if (msg.info.deliveryCount > first.msg.info.deliveryCount) {
        first.twins.push(first.msg);
        first.msg = msg;
      } else first.twins.push(msg);
    }
    const decoded: Decoded[] = [];
    for (const { msg, twins } of bySeq.values()) {
      try {
        decoded.push({ msg, twins, item: deps.decode(msg) });
      } catch (error) {
        await deadLetter(msg, twins, deps.entityOf(msg), error as Error);
      }
    }
    const decodedAt = performance.now();
    const schema = deps.schema;
    const waiting = schema ? decoded.filter((d) => schema.isHeld(d.item.decoded.entity.name)) : [];
    if (waiting.length > 0) await hold(waiting);
    await writeOrIsolate(waiting.length > 0 ? decoded.filter((d) => !waiting.includes(d)) : decoded);
    log.debug("batch", {
      size: batch.length,
      decode_ms: Math.round(decodedAt - started),
      write_ms: Math.round(performance.now() - decodedAt),
    });
  };
}
