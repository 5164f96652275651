/**
 * The worker: pull messages from the durable consumer and gather them into batches, each settled by the batch
 * processor (./batch.ts: decode, write in one transaction, ack after commit; retry or isolate failures).
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
import { countFailures, upsertStatuses } from "../db/status.ts";
import { isSchemaMismatch } from "../db/schema_errors.ts";
import type { SchemaWatch } from "../db/schema_watch.ts";
import { acceptedAt, readBodySha256 } from "../stream/envelope.ts";
import type { Topology } from "../stream/topology.ts";
import { createBatchProcessor, type SchemaHold, type WorkerCounters } from "./batch.ts";
import { createDeadLetterer } from "./dead_letter.ts";
import { messageIdOf } from "../stream/message_id.ts";
import { createPuller } from "./pull.ts";

export type WorkerDeps = {
  js: JetStreamClient;
  sql: Sql;
  plan: WritePlan;
  topology: Topology;
  settings: Config["worker"];
  log: Logger;
  metrics?: Metrics;
  /** Entities whose tables do not match: their messages are held, not written (src/db/schema_watch.ts). */
  schema?: SchemaWatch;
};

export type { WorkerCounters };

export type Worker = { counters: WorkerCounters; stop(): Promise<void> };

/** Batches written at once by one worker (each holds a connection while its transaction runs). */
const MAX_IN_FLIGHT = 2;

/**
 * Start consuming. `stop()` stops pulling, hands back (nak) every message pulled but not started, finishes the
 * batches being written and returns.
 */
export async function startWorker(deps: WorkerDeps): Promise<Worker> {
  const { js, topology, settings, log } = deps;
  const consumer = await js.consumers.get(topology.consumer.stream, topology.consumer.durable_name!);
  const puller = createPuller(consumer, settings.batchSize * 2, log);
  const counters: WorkerCounters = { batches: 0, completed: 0, retried: 0, deadLettered: 0 };
  const processBatch = createBatchProcessor({
    decode: (msg) => decode(deps, msg),
    write: (items) => writeBatch(deps.sql, deps.plan, items),
    saveRetrying: (rows) => upsertStatuses(deps.sql, rows),
    deadLetter: createDeadLetterer({ ...deps, jsm: await js.jetstreamManager() }),
    entityOf: (msg) => topology.parseSubject(msg.subject).entity,
    settings,
    countFailures: (ids) => countFailures(deps.sql, ids),
    schema: deps.schema && holdFor(deps.schema, deps.plan.registry),
    counters,
    log,
    metrics: deps.metrics,
  });

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
  // Stopping: what was pulled but not started is handed back at once (a bare nak redelivers now, to another
  // worker), instead of waiting --ack-wait-ms unacked, or the shutdown deadline, on a worker that is leaving.
  // Only after the last pull has ended: the server would deliver a nak'ed message to a pull request of ours
  // still open, and we would not take it any more.
  let stopping = false;
  let stopSignal: () => void = () => {};
  const stopped = new Promise<void>((resolve) => stopSignal = resolve);
  const held: JsMsg[] = [];
  const waitForRoom = async () => {
    while (!stopping && inFlight.size >= MAX_IN_FLIGHT) await Promise.race([...inFlight, stopped]);
  };

  const loop = (async () => {
    for await (const msg of puller.messages) {
      if (stopping) {
        held.push(msg);
        continue;
      }
      pending.push(msg);
      if (pending.length >= settings.batchSize) {
        await waitForRoom();
        flush();
      } else if (!timer) timer = setTimeout(flushWhenRoom, settings.batchLingerMs);
    }
    if (stopping) return;
    await waitForRoom();
    flush();
  })();
  log.info("worker started", { consumer: topology.consumer.durable_name, batch_size: settings.batchSize });

  return {
    counters,
    async stop() {
      stopping = true;
      stopSignal();
      clearTimeout(timer);
      timer = undefined;
      held.push(...pending);
      pending = [];
      puller.stop(held.length === 0);
      await loop;
      for (const msg of held) msg.nak();
      if (held.length > 0) {
        log.info("handed back unstarted messages for redelivery", { messages: held.length });
      }
      while (inFlight.size > 0) await Promise.all(inFlight);
    },
  };
}

function holdFor(watch: SchemaWatch, registry: WritePlan["registry"]): SchemaHold {
  return {
    isHeld: (entity) => watch.isHeld(entity),
    reason: (entity) => watch.mismatches().find((m) => m.entity === entity)?.problems.join(" | ") ?? "",
    isMismatch: (error) => isSchemaMismatch(error, registry),
    report: (entity, error) => watch.report(entity, error),
    holdMs: watch.holdMs,
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
    messageId: messageIdOf(messageId, msg.seq),
    seq: msg.seq,
    attempts: msg.info.deliveryCount,
    receivedAt: acceptedAt(msg),
    bodySha256: readBodySha256(msg.headers),
    decoded: decodeMessage(deps.plan.registry, entity, body),
  };
}
