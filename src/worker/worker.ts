/**
 * The worker: pull messages from the durable consumer, gather them into batches, decode and derive, write each
 * batch in one transaction, then ack. Nothing is acked before its rows are committed. A failed batch is either
 * retried later (transient: nak with an exponential delay) or split until the message(s) the database rejects
 * are found and dead-lettered alone, so one poison message never holds back the others.
 */
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Sql } from "../db/connect.ts";
import type { BatchItem, WritePlan } from "../db/write_batch.ts";
import { writeBatch } from "../db/write_batch.ts";
import { PayloadError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../observability/metrics.ts";
import { decodeMessage } from "../registry/derive.ts";
import type { Config } from "../config.ts";
import { upsertStatuses } from "../db/status.ts";
import { readReceivedAt } from "../stream/envelope.ts";
import type { Topology } from "../stream/topology.ts";
import { isTransient, retryDelay } from "./classify.ts";
import { createDeadLetterer, describeError } from "./dead_letter.ts";

export type WorkerDeps = {
  js: JetStreamClient;
  sql: Sql;
  plan: WritePlan;
  topology: Topology;
  settings: Config["worker"];
  log: Logger;
  metrics?: Metrics;
};

/** Counters a worker keeps (read by tests and, later, metrics). */
export type WorkerCounters = { batches: number; completed: number; retried: number; deadLettered: number };

export type Worker = { counters: WorkerCounters; stop(): Promise<void> };

type Decoded = { msg: JsMsg; item: BatchItem };

/** Batches written at once by one worker (each holds a connection while its transaction runs). */
const MAX_IN_FLIGHT = 2;

/** Start consuming. `stop()` stops pulling, finishes the batch in hand and returns. */
export async function startWorker(deps: WorkerDeps): Promise<Worker> {
  const { js, topology, settings, log } = deps;
  const consumer = await js.consumers.get(topology.consumer.stream, topology.consumer.durable_name!);
  const messages = await consumer.consume({ max_messages: settings.batchSize * 2 });
  const counters: WorkerCounters = { batches: 0, completed: 0, retried: 0, deadLettered: 0 };
  const deadLetter = createDeadLetterer(deps);

  // Up to MAX_IN_FLIGHT batches at once, each in its own transaction: the next batch is decoded while the
  // current one waits on PostgreSQL. Rows are locked in key order, so concurrent batches wait, not deadlock.
  let pending: JsMsg[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const inFlight = new Set<Promise<void>>();
  const flush = (): void => {
    clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    const running: Promise<void> = processBatch(batch).catch((error) => {
      // processBatch settles every message itself; reaching here is a bug, and the messages will be redelivered.
      log.error("batch failed unexpectedly; its messages will be redelivered", { error });
    }).finally(() => {
      inFlight.delete(running);
      if (pending.length > 0 && !timer) timer = setTimeout(flushWhenRoom, settings.batchLingerMs);
    });
    inFlight.add(running);
  };
  /** The linger timer: flush a partial batch, unless the pipeline is full (a finishing batch re-arms it). */
  const flushWhenRoom = () => {
    timer = undefined;
    if (inFlight.size < MAX_IN_FLIGHT) flush();
  };
  const waitForRoom = async () => {
    while (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
  };

  const count = (entity: string, outcome: "completed" | "retried" | "dead_lettered", n = 1) =>
    deps.metrics?.processed.inc({ entity, outcome }, n);
  const processBatch = async (batch: JsMsg[]): Promise<void> => {
    counters.batches++;
    deps.metrics?.batchSize.observe(batch.length);
    const started = performance.now();
    const decoded: Decoded[] = [];
    const seen = new Set<number>();
    for (const msg of batch) {
      if (seen.has(msg.seq)) { // the same stream message twice in one batch (a redelivery overtook it)
        msg.ack();
        continue;
      }
      seen.add(msg.seq);
      try {
        decoded.push({ msg, item: decode(deps, msg) });
      } catch (error) {
        if (await deadLetter(msg, error as Error)) {
          counters.deadLettered++;
          count(topology.parseSubject(msg.subject).entity, "dead_lettered");
        }
      }
    }
    const decodedAt = performance.now();
    await writeOrIsolate(decoded);
    log.debug("batch", {
      size: batch.length,
      decode_ms: Math.round(decodedAt - started),
      write_ms: Math.round(performance.now() - decodedAt),
    });
  };

  /** Write the batch; on a permanent failure, split it to find the rejected message(s). */
  const writeOrIsolate = async (group: Decoded[]): Promise<void> => {
    if (group.length === 0) return;
    try {
      const started = performance.now();
      await writeBatch(deps.sql, deps.plan, group.map((d) => d.item));
      deps.metrics?.transactionSeconds.observe((performance.now() - started) / 1000);
      for (const { msg } of group) msg.ack();
      counters.completed += group.length;
      for (const d of group) count(d.item.decoded.entity.name, "completed");
      return;
    } catch (error) {
      if (isTransient(error)) {
        await retryOrGiveUp(group, error as Error);
        return;
      }
      if (group.length === 1) {
        if (await deadLetter(group[0].msg, error as Error)) {
          counters.deadLettered++;
          count(group[0].item.decoded.entity.name, "dead_lettered");
        }
        return;
      }
      const half = Math.ceil(group.length / 2);
      await writeOrIsolate(group.slice(0, half));
      await writeOrIsolate(group.slice(half));
    }
  };

  /**
   * A transient failure: nak with an exponential delay, recording `retrying` where the database lets us. A message
   * is only given up (dead-lettered) once it has had `maxDeliver` attempts AND the retry budget (time since it
   * was accepted) has run out, so a database that is down for minutes never sends healthy messages to the DLQ.
   */
  const retryOrGiveUp = async (group: Decoded[], error: Error): Promise<void> => {
    const retrying: Decoded[] = [];
    for (const d of group) {
      const attempt = d.msg.info.deliveryCount;
      const age = Date.now() - (d.item.receivedAt?.getTime() ?? d.msg.info.timestampNanos / 1e6);
      if (attempt >= settings.maxDeliver && age >= settings.retryBudgetMs) {
        if (await deadLetter(d.msg, error)) {
          counters.deadLettered++;
          count(d.item.decoded.entity.name, "dead_lettered");
        }
      } else retrying.push(d);
    }
    if (retrying.length === 0) return;
    const delays = retrying.map((d) =>
      retryDelay(d.msg.info.deliveryCount, settings.retryBaseMs, settings.retryMaxMs)
    );
    const reason = describeError(error);
    log.warn("write failed, will retry", { messages: retrying.length, error: reason, delay_ms: delays[0] });
    await upsertStatuses(
      deps.sql,
      retrying.map((d, i) => ({
        messageId: d.item.messageId,
        entity: d.item.decoded.entity.name,
        status: "retrying",
        seq: d.item.seq,
        receivedAt: d.item.receivedAt,
        attempts: d.item.attempts,
        error: reason,
        nextAttemptAt: new Date(Date.now() + delays[i]),
      })),
    ).catch(() => {}); // best effort: the database may be what is failing
    retrying.forEach((d, i) => {
      d.msg.nak(delays[i]);
      count(d.item.decoded.entity.name, "retried");
    });
    counters.retried += retrying.length;
  };

  const loop = (async () => {
    for await (const msg of messages) {
      pending.push(msg);
      if (pending.length >= settings.batchSize) {
        await waitForRoom();
        flush();
      } else if (!timer) timer = setTimeout(flushWhenRoom, settings.batchLingerMs);
    }
    await waitForRoom();
    flush();
  })();
  log.info("worker started", { consumer: topology.consumer.durable_name, batch_size: settings.batchSize });

  return {
    counters,
    async stop() {
      await messages.close();
      await loop;
      while (inFlight.size > 0) await Promise.all(inFlight);
    },
  };
}

function decode(deps: WorkerDeps, msg: JsMsg): BatchItem {
  const { entity: name, messageId } = deps.topology.parseSubject(msg.subject);
  const entity = deps.plan.registry.entities.get(name);
  if (!entity || entity.kind === "derived") {
    throw new PayloadError(name, [{ field: "", message: `entity "${name}" is not defined (any more)` }]);
  }
  let body: unknown;
  try {
    body = msg.json();
  } catch {
    throw new PayloadError(name, [{ field: "", message: "body is not valid JSON" }]);
  }
  return {
    messageId: messageId || `seq-${msg.seq}`,
    seq: msg.seq,
    attempts: msg.info.deliveryCount,
    receivedAt: readReceivedAt(msg.headers),
    decoded: decodeMessage(deps.plan.registry, entity, body),
  };
}
