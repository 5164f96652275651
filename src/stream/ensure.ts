/**
 * `ensureTopology()`: the one routine every role runs at start. It creates the streams and the consumer that
 * are missing and reconciles those that drifted (update, and log what changed), so any role may start first and
 * several may start at once.
 */
import type { JetStreamManager, StreamConfig } from "@nats-io/jetstream";
import type { Logger } from "../log.ts";
import { isJetStreamError, JS_CODES } from "./jetstream_codes.ts";
import type { ManagedConsumer, ManagedStream, Topology } from "./topology.ts";

/** Settings JetStream cannot change on an existing stream. */
const IMMUTABLE_STREAM = new Set(["storage", "retention"]);
const IMMUTABLE_CONSUMER = new Set(["deliver_policy", "ack_policy"]);

/** One managed setting whose live value differs from the wanted one. */
export type Drift = { key: string; live: unknown; wanted: unknown };

/** Compare the managed settings of `wanted` with `live` (pure). */
export function diffConfig<T extends object>(wanted: T, live: Partial<T>): Drift[] {
  const drifts: Drift[] = [];
  for (const [key, value] of Object.entries(wanted)) {
    const current = (live as Record<string, unknown>)[key];
    if (JSON.stringify(current) !== JSON.stringify(value)) drifts.push({ key, live: current, wanted: value });
  }
  return drifts;
}

/** Create or reconcile every stream and the worker's consumer. Idempotent; safe to run concurrently. */
export async function ensureTopology(jsm: JetStreamManager, topology: Topology, log: Logger): Promise<void> {
  for (const stream of topology.streams) await ensureStream(jsm, stream, log);
  await ensureConsumer(jsm, topology.consumer, log);
}

async function ensureStream(jsm: JetStreamManager, wanted: ManagedStream, log: Logger): Promise<void> {
  for (let attempt = 0;; attempt++) {
    const live = await jsm.streams.info(wanted.name).catch((error) => {
      if (isJetStreamError(error, JS_CODES.streamNotFound)) return undefined;
      throw error;
    });
    if (!live) {
      try {
        await jsm.streams.add(wanted as Partial<StreamConfig> & { name: string });
        log.info("created stream", {
          stream: wanted.name,
          subjects: wanted.subjects,
          max_bytes: wanted.max_bytes,
        });
        return;
      } catch (error) {
        // Another role created it between our info and add: reconcile against what it made.
        if (isJetStreamError(error, JS_CODES.streamNameInUse) && attempt < 3) continue;
        if (isJetStreamError(error, JS_CODES.storageExceeded)) {
          throw new Error(
            `JetStream cannot reserve ${wanted.max_bytes} bytes for stream "${wanted.name}" (error ${JS_CODES.storageExceeded}): the ` +
              `server's max_file_store is smaller than what nomnom's streams ask for. Lower --stream-max-bytes / ` +
              `--dlq-max-bytes or raise jetstream.max_file_store on the server.`,
            { cause: error },
          );
        }
        throw error;
      }
    }
    const drifts = diffConfig(wanted, live.config);
    if (drifts.length === 0) return;
    const immutable = drifts.filter((d) => IMMUTABLE_STREAM.has(d.key));
    if (immutable.length > 0) {
      throw new Error(
        `Stream "${wanted.name}" exists with ${
          describe(immutable)
        }, which JetStream cannot change in place. ` +
          `Use another --namespace, or delete the stream (its messages are lost) and start again.`,
      );
    }
    await jsm.streams.update(wanted.name, { ...live.config, ...wanted } as Partial<StreamConfig>);
    log.warn("reconciled stream that drifted", { stream: wanted.name, changed: describe(drifts) });
    return;
  }
}

async function ensureConsumer(
  jsm: JetStreamManager,
  wanted: ManagedConsumer & { stream: string },
  log: Logger,
): Promise<void> {
  const { stream, ...config } = wanted;
  for (let attempt = 0;; attempt++) {
    const live = await jsm.consumers.info(stream, config.durable_name!).catch((error) => {
      if (isJetStreamError(error, JS_CODES.consumerNotFound)) return undefined;
      throw error;
    });
    if (!live) {
      try {
        await jsm.consumers.add(stream, config);
        log.info("created consumer", { stream, consumer: config.durable_name });
        return;
      } catch (error) {
        if (attempt < 3) continue; // created concurrently by another role: reconcile with it
        throw error;
      }
    }
    const drifts = diffConfig(config, live.config);
    if (drifts.length === 0) return;
    const immutable = drifts.filter((d) => IMMUTABLE_CONSUMER.has(d.key));
    if (immutable.length > 0) {
      throw new Error(
        `Consumer "${config.durable_name}" exists with ${
          describe(immutable)
        }, which JetStream cannot change. ` +
          `Delete the consumer (its position and pending acks are lost) or use another --namespace.`,
      );
    }
    await jsm.consumers.update(stream, config.durable_name!, config);
    log.warn("reconciled consumer that drifted", {
      consumer: config.durable_name,
      changed: describe(drifts),
    });
    return;
  }
}

function describe(drifts: Drift[]): string {
  return drifts.map((d) => `${d.key} ${JSON.stringify(d.live)} → ${JSON.stringify(d.wanted)}`).join(", ");
}
