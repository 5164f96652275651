/**
 * `ensureTopology()`: the one routine every role runs at start. It creates the streams and the consumer that
 * are missing and reconciles those that drifted (update, and log what changed), so any role may start first and
 * several may start at once.
 */
import type { JetStreamApiError, JetStreamManager, StreamConfig } from "@nats-io/jetstream";
import { TimeoutError } from "@nats-io/transport-node";
import type { Logger } from "../log.ts";
import { isJetStreamError, JS_CODES } from "./jetstream_codes.ts";
import { isJetStreamElecting, JetStreamTimeoutError } from "./connect.ts";
import { type ManagedConsumer, type ManagedStream, storageReservation, type Topology } from "./topology.ts";

/**
 * Placement failures: a single server out of max_file_store or refusing R>1; in a cluster, no set of
 * `num_replicas` servers with room ("no suitable peers for placement", also when the cluster has fewer servers
 * than replicas) or no resources.
 */
const PLACEMENT_FAILED = [
  JS_CODES.storageExceeded,
  JS_CODES.replicasNotSupported,
  JS_CODES.clusterNoPeers,
  JS_CODES.insufficientResources,
];

/**
 * What a connection's INFO tells about the servers behind it: whether the server is in a cluster, and how many
 * servers it has advertised so far (itself included). The count is a lower bound: advertisements arrive as
 * routes connect, and a cluster with no_advertise sends none.
 */
export type ClusterView = { clustered: boolean; seen: number };

/** The ClusterView of a connection's INFO (unknown INFO: a cluster of unknown size). */
export function viewCluster(info: { cluster?: string; connect_urls?: string[] } | undefined): ClusterView {
  if (info && !info.cluster) return { clustered: false, seen: 1 };
  return { clustered: true, seen: Math.max(1, info?.connect_urls?.length ?? 0) };
}

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

/**
 * Create or reconcile every stream and the worker's consumer. Idempotent; safe to run concurrently. With
 * replicas, refuses a server outside a cluster before touching anything: it would even accept an update to R3
 * and report it, with one copy.
 */
export async function ensureTopology(
  jsm: JetStreamManager,
  topology: Topology,
  log: Logger,
  cluster: ClusterView = { clustered: true, seen: 1 },
): Promise<void> {
  const replicas = topology.ingest.num_replicas ?? 1;
  if (!cluster.clustered && replicas > 1) throw new Error(tooFewServers(replicas, "is 1 (not a cluster)"));
  for (const stream of topology.streams) await ensureStream(jsm, stream, topology, cluster, log);
  await ensureConsumer(jsm, topology.consumer, log);
}

/** How long a start waits for a cluster that is electing a leader (a node restarting, replicas just changed). */
const ELECTION_WAIT_MS = 15_000;

/**
 * Run the JetStream API call `what` (e.g. `stream info "ns_ingest"`), retrying while the cluster answers
 * "temporarily unavailable" (10008) or not at all (a timeout): right after a node restarts or a stream changes
 * its replicas, a role starting then would otherwise fail for nothing. Every call here is idempotent (a create
 * that took effect but whose answer was lost finds its result on the next try). A last timeout says which call.
 */
async function whileElecting<T>(what: string, call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ELECTION_WAIT_MS;
  for (let delay = 100, tries = 1;; delay = Math.min(delay * 2, 2_000), tries++) {
    try {
      return await call();
    } catch (error) {
      if (isJetStreamElecting(error) && Date.now() + delay <= deadline) {
        await new Promise((resolve) => setTimeout(resolve, delay));
        continue;
      }
      if (!(error instanceof TimeoutError) || error instanceof JetStreamTimeoutError) throw error;
      throw new JetStreamTimeoutError(
        `JetStream did not answer ${what} (${tries} tries in ${ELECTION_WAIT_MS / 1000} s): a NATS cluster ` +
          `without a leader for it (servers down or not routed to each other), or a server too busy to answer.`,
        error,
      );
    }
  }
}

function tooFewServers(replicas: number, have: string): string {
  return `--stream-replicas=${replicas} needs ${replicas} JetStream servers in one cluster (one copy of each ` +
    `stream per server), but there ${have}. Lower --stream-replicas (NOMNOM_STREAM_REPLICAS) or add servers to ` +
    `the NATS cluster.`;
}

/**
 * The error a failed placement becomes: which limit to change, with what nomnom's streams reserve on each
 * server. JetStream answers a cluster that is too small and one that is too full with the same code (10005), so
 * with replicas both causes are named unless the connection showed enough servers.
 */
function placementError(
  error: JetStreamApiError,
  wanted: ManagedStream,
  topology: Topology,
  cluster: ClusterView,
): Error {
  const { perServer, servers, total } = storageReservation(topology);
  const replicas = wanted.num_replicas ?? 1;
  const why = `(error ${error.code}: ${error.message})`;
  const storage =
    `nomnom's streams reserve ${perServer} bytes ${
      servers > 1 ? `on each of ${servers} servers (${total} bytes in the cluster)` : "on the server"
    }. Lower --stream-max-bytes / --dlq-max-bytes or raise jetstream.max_file_store on the server` +
    `${servers > 1 ? "s" : ""} to at least ${perServer} bytes plus what other streams reserve there.`;
  if (replicas === 1) {
    return new Error(
      `JetStream cannot reserve ${wanted.max_bytes} bytes for stream "${wanted.name}" ${why}: the server's ` +
        `max_file_store is smaller than what nomnom's streams ask for: ${storage}`,
      { cause: error },
    );
  }
  const enough = cluster.seen >= replicas;
  return new Error(
    `JetStream cannot place stream "${wanted.name}" with ${replicas} replicas ${why}. ` +
      (enough
        ? ""
        : `If the cluster has fewer than ${replicas} JetStream servers: ${
          tooFewServers(replicas, "are fewer")
        } Otherwise the servers lack storage: `) +
      storage,
    { cause: error },
  );
}

async function ensureStream(
  jsm: JetStreamManager,
  wanted: ManagedStream,
  topology: Topology,
  cluster: ClusterView,
  log: Logger,
): Promise<void> {
  // A cluster that has just elected its meta leader may still be waiting for its last servers to join: a
  // replicated stream finds "no suitable peers" (10005) for a few seconds, so placement is retried that long
  // (even when the connection has seen enough servers: routed is not yet a JetStream peer). A cluster that is
  // really too small is named after that wait.
  const joinDeadline = Date.now() + ELECTION_WAIT_MS;
  for (let attempt = 0;; attempt++) {
    const live = await whileElecting(`stream info "${wanted.name}"`, () => jsm.streams.info(wanted.name))
      .catch((error) => {
        if (isJetStreamError(error, JS_CODES.streamNotFound)) return undefined;
        throw error;
      });
    if (!live) {
      try {
        await whileElecting(
          `stream create "${wanted.name}"`,
          () => jsm.streams.add(wanted as Partial<StreamConfig> & { name: string }),
        );
        log.info("created stream", {
          stream: wanted.name,
          subjects: wanted.subjects,
          max_bytes: wanted.max_bytes,
        });
        return;
      } catch (error) {
        // Another role created it between our info and add: reconcile against what it made. A server still
        // creating the other role's stream answers "subjects overlap" rather than "name in use".
        if (isJetStreamError(error, JS_CODES.streamNameInUse, JS_CODES.subjectsOverlap) && attempt < 3) {
          await new Promise((resolve) => setTimeout(resolve, 50 * (attempt + 1)));
          continue;
        }
        if (isJetStreamError(error, JS_CODES.subjectsOverlap)) {
          throw new Error(
            `Stream "${wanted.name}" cannot be created: another stream on this NATS server already captures ` +
              `some of its subjects (${
                wanted.subjects.join(", ")
              }) (error ${error.code}: ${error.message}). ` +
              `Use another --namespace (NOMNOM_NAMESPACE), or delete the other stream.`,
            { cause: error },
          );
        }
        const replicated = (wanted.num_replicas ?? 1) > 1;
        if (
          isJetStreamError(error, JS_CODES.clusterNoPeers) && replicated && Date.now() + 500 < joinDeadline
        ) {
          await new Promise((resolve) => setTimeout(resolve, 500));
          attempt--;
          continue;
        }
        if (isJetStreamError(error, ...PLACEMENT_FAILED)) {
          throw placementError(error, wanted, topology, cluster);
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
    // A changed --stream-replicas lands here too: JetStream adds or removes copies of a live stream in place.
    await whileElecting(
      `stream update "${wanted.name}"`,
      () => jsm.streams.update(wanted.name, { ...live.config, ...wanted } as Partial<StreamConfig>),
    ).catch(
      (error) => {
        if (isJetStreamError(error, ...PLACEMENT_FAILED)) {
          throw placementError(error, wanted, topology, cluster);
        }
        throw error;
      },
    );
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
    const live = await whileElecting(
      `consumer info "${config.durable_name}" of stream "${stream}"`,
      () => jsm.consumers.info(stream, config.durable_name!),
    ).catch(
      (error) => {
        if (isJetStreamError(error, JS_CODES.consumerNotFound)) return undefined;
        throw error;
      },
    );
    if (!live) {
      try {
        await whileElecting(
          `consumer create "${config.durable_name}" on stream "${stream}"`,
          () => jsm.consumers.add(stream, config),
        );
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
    await whileElecting(
      `consumer update "${config.durable_name}" of stream "${stream}"`,
      () => jsm.consumers.update(stream, config.durable_name!, config),
    );
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
