/**
 * The wire contract every role imports: stream, subject, consumer and dead-letter names, and their JetStream
 * configuration, computed once from the config (namespace, limits) and the registry. Nothing else builds a
 * subject or a stream name, so the API and the worker cannot disagree (the bug of the system nomnom replaces).
 */
import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import type { ConsumerConfig, StreamConfig } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { Config } from "../config.ts";
import type { Registry } from "../registry/types.ts";

/** The stream settings nomnom manages (and reconciles); everything else is left at the server's defaults. */
export type ManagedStream = Pick<
  StreamConfig,
  | "name"
  | "subjects"
  | "retention"
  | "storage"
  | "discard"
  | "max_bytes"
  | "max_msgs"
  | "max_age"
  | "num_replicas"
  | "duplicate_window"
  | "max_msg_size"
  | "max_msgs_per_subject"
>;

/** The consumer settings nomnom manages. */
export type ManagedConsumer = Pick<
  ConsumerConfig,
  | "durable_name"
  | "ack_policy"
  | "ack_wait"
  | "max_deliver"
  | "max_ack_pending"
  | "deliver_policy"
  | "filter_subject"
  | "num_replicas"
>;

export type Topology = {
  namespace: string;
  ingest: ManagedStream;
  dlq: ManagedStream;
  /** The worker's durable pull consumer on the ingest stream. */
  consumer: ManagedConsumer & { stream: string };
  /** Every stream, for `ensure` and for the overlap check. */
  streams: ManagedStream[];
  /** Each ingestible entity with its ingest and dead-letter subjects (wildcard in place of the message id). */
  routes: { entity: string; ingest: string; dlq: string }[];
  /** Subject message `messageId` of `entity` is published to: `<ns>.ingest.<Entity>.<message id>`. */
  ingestSubject(entity: string, messageId: string): string;
  /** Subject a dead-lettered message is stored under: `<ns>.dlq.<Entity>.<message id>`. */
  dlqSubject(entity: string, messageId: string): string;
  /** Entity and message id of a subject produced by `ingestSubject` or `dlqSubject`. */
  parseSubject(subject: string): { entity: string; messageId: string };
  /** Core NATS subject every worker answers, so that any API replica can count the workers (no stream). */
  presenceSubject: string;
};

/** Room for the subject and headers of a message (a dead letter's error headers included) next to its body. */
export const ENVELOPE_BYTES = 8 * 1024;

/**
 * Why a body of `messageBytes` cannot pass through a NATS server whose `max_payload` (headers + body) is
 * `maxPayload`, or undefined when it can. Checked at start: otherwise such bodies would get a 503 that no retry
 * can ever cure.
 */
export function explainPayloadLimit(messageBytes: number, maxPayload: number): string | undefined {
  if (messageBytes + ENVELOPE_BYTES <= maxPayload) return undefined;
  return `--max-message-bytes=${messageBytes} does not fit the NATS server's max_payload of ${maxPayload} bytes ` +
    `with ${ENVELOPE_BYTES} bytes for subject and headers: lower --max-message-bytes (NOMNOM_MAX_MESSAGE_BYTES) ` +
    `to at most ${maxPayload - ENVELOPE_BYTES}, or raise max_payload in the nats-server configuration.`;
}

/** Compute the topology (pure). Throws if two streams' subjects could overlap (JetStream error 10065). */
export function createTopology(
  config: Pick<Config, "namespace" | "stream" | "worker" | "limits">,
  registry: Registry,
): Topology {
  const ns = config.namespace;
  const s = config.stream;
  const base = {
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    max_msgs: -1,
    max_age: 0,
    num_replicas: s.replicas,
    duplicate_window: nanos(s.duplicateWindowMs),
    // The API refuses larger bodies with 413 before they reach NATS; the stream takes the same bodies plus the
    // subject and headers nomnom adds (a dead letter's error headers included).
    max_msg_size: config.limits.messageBytes + ENVELOPE_BYTES,
  };
  // Work-queue retention: a message is deleted once the worker acks it, so the stream holds exactly the backlog,
  // and with discard:new a full stream refuses publishes (clean 503) instead of dropping unprocessed messages.
  const ingest: ManagedStream = {
    ...base,
    name: `${ns}_ingest`,
    subjects: [`${ns}.ingest.>`],
    retention: RetentionPolicy.Workqueue,
    max_bytes: s.maxBytes,
    max_msgs_per_subject: -1,
  };
  // One entry per message: a dead letter's subject ends with its message id, and with one message per subject a
  // repeated move (a worker crashed between publishing and acking) replaces the entry instead of adding a second.
  // Replay and drop remove an entry by purging its subject.
  const dlq: ManagedStream = {
    ...base,
    name: `${ns}_dlq`,
    subjects: [`${ns}.dlq.>`],
    retention: RetentionPolicy.Limits,
    max_bytes: s.dlqMaxBytes,
    max_msgs_per_subject: 1,
  };
  const streams = [ingest, dlq];
  assertDisjoint(streams);
  const w = config.worker;
  // The message id is the last subject token so that "where is message X?" is a direct lookup by subject in
  // either stream (STREAM.MSG.GET last_by_subj), without an index of our own. Always by a literal subject: a
  // wildcard (any entity) makes the server scan the stream, which grows with the backlog.
  const ingestSubject = (entity: string, messageId: string) => `${ns}.ingest.${entity}.${messageId}`;
  const dlqSubject = (entity: string, messageId: string) => `${ns}.dlq.${entity}.${messageId}`;
  return {
    namespace: ns,
    ingest,
    dlq,
    streams,
    consumer: {
      stream: ingest.name,
      durable_name: `${ns}_worker`,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(w.ackWaitMs),
      // Unlimited: nomnom decides when to give up (attempts AND time budget, see worker) and moves the message to
      // the DLQ itself. A server-side limit would strand messages that reached it: not redelivered, not deleted.
      max_deliver: -1,
      max_ack_pending: w.maxAckPending,
      deliver_policy: DeliverPolicy.All,
      filter_subject: ingest.subjects![0],
      // As many copies as the stream: a consumer state on one server would make that server's loss stop the
      // workers even though the messages survived on the others.
      num_replicas: s.replicas,
    },
    routes: registry.ingestible.map((e) => ({
      entity: e.name,
      ingest: ingestSubject(e.name, "*"),
      dlq: dlqSubject(e.name, "*"),
    })),
    ingestSubject,
    dlqSubject,
    // Outside both stream roots: a ping is never stored.
    presenceSubject: `${ns}.presence.workers`,
    parseSubject: (subject) => {
      const tokens = subject.split(".");
      return { entity: tokens[2] ?? "", messageId: tokens[3] ?? "" };
    },
  };
}

/**
 * What nomnom's streams reserve (pure): JetStream places each replica of a stream on a different server and
 * reserves its whole `max_bytes` there up front, so each of `servers` servers needs `perServer` bytes of
 * max_file_store, and the cluster `total`. The start check, its error message and the NATS manifests use it.
 */
export function storageReservation(
  topology: Pick<Topology, "streams">,
): { perServer: number; servers: number; total: number } {
  const perServer = topology.streams.reduce((sum, s) => sum + (s.max_bytes ?? 0), 0);
  const servers = Math.max(...topology.streams.map((s) => s.num_replicas ?? 1));
  const total = topology.streams.reduce((sum, s) => sum + (s.max_bytes ?? 0) * (s.num_replicas ?? 1), 0);
  return { perServer, servers, total };
}

/** True when some subject could match both patterns (NATS wildcards: `*` one token, `>` one or more at the end). */
export function subjectsOverlap(a: string, b: string): boolean {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] === ">" || y[i] === ">") return x[i] !== undefined && y[i] !== undefined;
    if (x[i] === undefined || y[i] === undefined) return false;
    if (x[i] !== "*" && y[i] !== "*" && x[i] !== y[i]) return false;
  }
  return true;
}

function assertDisjoint(streams: ManagedStream[]): void {
  for (const [i, a] of streams.entries()) {
    for (const b of streams.slice(i + 1)) {
      for (const sa of a.subjects ?? []) {
        for (const sb of b.subjects ?? []) {
          if (subjectsOverlap(sa, sb)) {
            throw new Error(
              `Streams "${a.name}" (${sa}) and "${b.name}" (${sb}) would capture the same subjects`,
            );
          }
        }
      }
    }
  }
}
