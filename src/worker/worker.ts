/**
 * The worker: pull messages from the durable consumer and gather them into batches, each settled by the batch
 * processor (./batch.ts: decode, write in one transaction, ack after commit; retry or isolate failures).
 */
import type { JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
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
import { purgeAckedLeftovers } from "../stream/acked_leftovers.ts";

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
 * How often a worker looks for acked messages the ingest stream kept (src/stream/acked_leftovers.ts): two
 * JetStream API calls, and a purge only when there are some. Also once at start.
 */
export const LEFTOVER_SWEEP_MS = 10_000;

/**
 * Start consuming. `stop()` stops pulling, hands back (nak) every message pulled but not started, finishes the
 * batches being written and returns.
 */
export async function startWorker(deps: WorkerDeps): Promise<Worker> {
  const { js, topology, settings, log } = deps;
  const consumer = await js.consumers.get(topology.consumer.stream, topology.consumer.durable_name!);
  const puller = createPuller(consumer, settings.batchSize * 2, log);
  const counters: WorkerCounters = { batches: 0, completed: 0, retried: 0, deadLettered: 0 };
  const jsm = await js.jetstreamManager();
  const sweeper = sweepLeftovers(jsm, topology, log);
  const processBatch = createBatchProcessor({
    decode: (msg) => decode(deps, msg),
    write: (items) => writeBatch(deps.sql, deps.plan, items),
    saveRetrying: (rows) => upsertStatuses(deps.sql, rows),
    deadLetter: createDeadLetterer({ ...deps, jsm }),
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
  // Only after the last pull has ended (drained: what the server had sent to it is among what is handed back,
  // and the server delivers nothing more to it; ./pull.ts).
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
      sweeper.stop();
      clearTimeout(timer);
      timer = undefined;
      held.push(...pending);
      pending = [];
      puller.stop();
      await loop;
      for (const msg of held) msg.nak();
      if (held.length > 0) {
        log.info("handed back unstarted messages for redelivery", { messages: held.length });
      }
      while (inFlight.size > 0) await Promise.all(inFlight);
    },
  };
}

/**
 * Sweep acked leftovers at start and every LEFTOVER_SWEEP_MS: after nats-server restarts the stream may hold
 * messages acked before it died (src/stream/acked_leftovers.ts). A sweep that fails (NATS away) waits for the
 * next; what it found is logged once per change, not every sweep.
 */
function sweepLeftovers(
  jsm: JetStreamManager,
  topology: Topology,
  log: Logger,
): { stop(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let lastRefusal: string | undefined;
  const sweep = async () => {
    try {
      const { removed, floor, refused } = await purgeAckedLeftovers(jsm, topology);
      if (removed > 0) {
        log.warn("removed acked messages the ingest stream had kept (nats-server restarted uncleanly)", {
          stream: topology.ingest.name,
          messages: removed,
          ack_floor: floor,
        });
      }
      if (refused && refused !== lastRefusal) {
        log.warn("the ingest stream keeps messages below the consumer's ack floor; not removing them", {
          stream: topology.ingest.name,
          ack_floor: floor,
          reason: refused,
        });
      }
      lastRefusal = refused;
    } catch (error) {
      log.debug("looking for acked leftovers in the ingest stream failed; trying again later", { error });
    }
  };
  const next = () => {
    if (stopped) return;
    timer = setTimeout(() => void sweep().finally(next), LEFTOVER_SWEEP_MS);
  };
  // A sweep still running at stop ends with its request (answered, or failed when the connection closes).
  void sweep().finally(next);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
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
