/**
 * The figures behind GET /stats: per entity (statuses from nomnom.messages, acceptances counted by this
 * process), the streams and the consumer (from JetStream), uptime and version. Every number is read, none is
 * invented.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { Sql } from "../db/connect.ts";
import { NOMNOM_SCHEMA } from "../db/statements.ts";
import type { StreamFigures } from "../observability/metrics.ts";
import type { RateCounter } from "../observability/rates.ts";
import type { Registry } from "../registry/types.ts";
import type { Topology } from "../stream/topology.ts";

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

/** Read the stream and consumer figures (also what the metrics gauges show). */
export async function readStreamFigures(jsm: JetStreamManager, topology: Topology): Promise<StreamFigures> {
  const [ingest, dlq, consumer] = await Promise.all([
    jsm.streams.info(topology.ingest.name),
    jsm.streams.info(topology.dlq.name),
    jsm.consumers.info(topology.consumer.stream, topology.consumer.durable_name!),
  ]);
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
  const accepted = deps.accepted.snapshot();
  const entities: Record<string, Record<string, unknown>> = {};
  for (const e of deps.registry.ingestible) {
    const a = accepted.get(e.name);
    entities[e.name] = {
      accepted_by_this_process: a?.total ?? 0,
      completed: 0,
      retrying: 0,
      dlq: 0,
      dropped: 0,
      per_minute: { accepted_by_this_process: a?.lastMinute ?? 0, completed: 0, dlq: 0 },
    };
  }
  if (deps.sql) {
    const rows = await deps.sql.unsafe(
      `SELECT entity, status, count(*)::int AS total,
              count(*) FILTER (WHERE processed_at > now() - interval '1 minute')::int AS last_minute
       FROM ${NOMNOM_SCHEMA}.messages GROUP BY entity, status`,
    );
    for (const r of rows) {
      const e = entities[r.entity] ??= { per_minute: {} };
      e[r.status] = r.total;
      if (r.status === "completed" || r.status === "dlq") {
        (e.per_minute as Record<string, number>)[r.status] = r.last_minute;
      }
    }
  }
  const f = await readStreamFigures(deps.jsm, deps.topology);
  return {
    version: deps.version,
    role: deps.role,
    uptime_seconds: Math.round((Date.now() - deps.startedAt.getTime()) / 1000),
    entities,
    stream: { name: deps.topology.ingest.name, messages: f.ingestMessages, bytes: f.ingestBytes },
    dlq_stream: { name: deps.topology.dlq.name, messages: f.dlqMessages },
    consumer: {
      name: deps.topology.consumer.durable_name,
      pending: f.consumerPending,
      ack_pending: f.consumerAckPending,
      lag: f.consumerPending + f.consumerAckPending,
    },
  };
}
