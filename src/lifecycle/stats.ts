/**
 * The figures behind GET /stats: per entity (statuses from nomnom.messages, acceptances counted by this
 * process), the streams and the consumer (from JetStream), uptime and version. Every number is read, none is
 * invented: when PostgreSQL or NATS cannot be read, their figures are left out (null) and `errors` says why,
 * instead of the whole document failing.
 *
 * Rates (`per_minute`) count the last 60 seconds. `accepted_by_this_process` is this process's own count (each
 * API replica has its own; add them up); `completed`, `retrying` and `dlq` come from the status table, so they
 * cover every worker (`retrying`: messages whose latest failed attempt was in the last minute). Error text here
 * never carries row values (src/db/error_values.ts): /stats is for any reader.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { Sql } from "../db/connect.ts";
import { hideValues } from "../db/error_values.ts";
import { NOMNOM_SCHEMA } from "../db/statements.ts";
import type { MessageStatus } from "../db/status.ts";
import type { StreamFigures } from "../observability/metrics.ts";
import type { RateCounter } from "../observability/rates.ts";
import type { Registry } from "../registry/types.ts";
import type { Topology } from "../stream/topology.ts";
import { withTimeout } from "../timeout.ts";

export type StatsDeps = {
  sql?: Sql;
  jsm: JetStreamManager;
  topology: Topology;
  registry: Registry;
  accepted: RateCounter;
  startedAt: Date;
  version: string;
  role: string;
};

/** How long /stats and a scrape wait for NATS or PostgreSQL before reporting that source as unavailable. */
const READ_TIMEOUT_MS = 2_000;

/** Statuses counted per entity from the status table, and those also counted over the last minute. */
const COUNTED = ["completed", "retrying", "dlq", "dropped"] as const satisfies readonly MessageStatus[];
const PER_MINUTE = ["completed", "retrying", "dlq"] as const satisfies readonly MessageStatus[];

const within = <T>(promise: Promise<T>) => withTimeout(promise, READ_TIMEOUT_MS);

/** Read the stream and consumer figures (also what the metrics gauges show). */
export async function readStreamFigures(jsm: JetStreamManager, topology: Topology): Promise<StreamFigures> {
  const [ingest, dlq, consumer] = await within(Promise.all([
    jsm.streams.info(topology.ingest.name),
    jsm.streams.info(topology.dlq.name),
    jsm.consumers.info(topology.consumer.stream, topology.consumer.durable_name!),
  ]));
  return {
    ingestMessages: ingest.state.messages,
    ingestBytes: ingest.state.bytes,
    dlqMessages: dlq.state.messages,
    consumerPending: consumer.num_pending,
    consumerAckPending: consumer.num_ack_pending,
  };
}

/** Build the /stats document. */
export async function readStats(deps: StatsDeps): Promise<Record<string, unknown>> {
  const errors: Record<string, string> = {};
  const accepted = deps.accepted.snapshot();
  const entities: Record<string, Record<string, unknown>> = {};
  const zeros = (statuses: readonly MessageStatus[]) => Object.fromEntries(statuses.map((s) => [s, 0]));
  for (const e of deps.registry.ingestible) {
    const a = accepted.get(e.name);
    entities[e.name] = {
      accepted_by_this_process: a?.total ?? 0,
      ...zeros(COUNTED),
      per_minute: { accepted_by_this_process: a?.lastMinute ?? 0, ...zeros(PER_MINUTE) },
    };
  }
  const rows = deps.sql
    ? await within(deps.sql.unsafe(
      `SELECT entity, status, count(*)::int AS total,
              count(*) FILTER (WHERE processed_at > now() - interval '1 minute')::int AS last_minute
       FROM ${NOMNOM_SCHEMA}.messages GROUP BY entity, status`,
    )).catch((error) => (errors.postgres = hideValues((error as Error).message), undefined))
    : [];
  for (const r of rows ?? []) {
    const e = entities[r.entity] ??= { per_minute: {} };
    e[r.status] = r.total;
    if ((PER_MINUTE as readonly string[]).includes(r.status)) {
      (e.per_minute as Record<string, number>)[r.status] = r.last_minute;
    }
  }
  if (!rows) {
    // Unknown, not zero.
    for (const e of Object.values(entities)) {
      for (const status of COUNTED) e[status] = null;
      for (const status of PER_MINUTE) (e.per_minute as Record<string, null>)[status] = null;
    }
  }
  const f = await readStreamFigures(deps.jsm, deps.topology)
    .catch((error) => (errors.nats = hideValues((error as Error).message), undefined));
  return {
    version: deps.version,
    role: deps.role,
    uptime_seconds: Math.round((Date.now() - deps.startedAt.getTime()) / 1000),
    entities,
    stream: {
      name: deps.topology.ingest.name,
      messages: f?.ingestMessages ?? null,
      bytes: f?.ingestBytes ?? null,
    },
    dlq_stream: { name: deps.topology.dlq.name, messages: f?.dlqMessages ?? null },
    consumer: {
      name: deps.topology.consumer.durable_name,
      pending: f?.consumerPending ?? null,
      ack_pending: f?.consumerAckPending ?? null,
      lag: f ? f.consumerPending + f.consumerAckPending : null,
    },
    ...(Object.keys(errors).length > 0 ? { errors } : {}),
  };
}
