/**
 * What the dashboard's one poller reads, part by part (see hub.ts). Every figure an operator compares across
 * API replicas comes from PostgreSQL (statuses, rates, rows) or NATS (backlog, redeliveries, dead-letter
 * depth, workers), so each replica shows the same numbers; the few that are this process's own are under
 * `process` and `accepted_here`, and the page labels them so.
 *
 * Reads are chosen to stay cheap on big tables: the status counts and the row counts (full scans) are taken at
 * most every `COUNT_EVERY_MS`; rates and recent messages walk the (status, processed_at) index; rows walk the
 * primary key.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Sql } from "../db/connect.ts";
import { hideValues } from "../db/error_values.ts";
import { NOMNOM_SCHEMA } from "../db/statements.ts";
import { STATUSES } from "../db/status.ts";
import type { RateCounter } from "../observability/rates.ts";
import { sqlIdent } from "../registry/names.ts";
import type { Registry } from "../registry/types.ts";
import { readPresence } from "../stream/presence.ts";
import type { Topology } from "../stream/topology.ts";
import { withTimeout } from "../timeout.ts";
import type { FeedReader } from "./hub.ts";
import { readRows } from "./rows.ts";

export type ReadDeps = {
  sql: Sql;
  nc: NatsConnection;
  jsm: JetStreamManager;
  topology: Topology;
  registry: Registry;
  /** This process's acceptances by entity (per process: each replica counts its own). */
  accepted: RateCounter;
  process: { role: string; version: string; startedAt: Date };
  /** Open dashboard streams of this process. */
  clients: () => number;
  /** Take row values out of the errors shown (src/db/error_values.ts): true with API keys. */
  hideValues?: boolean;
};

/** The rate chart: this many buckets of this many seconds (ten minutes). */
export const RATE_BUCKETS = { seconds: 10, count: 60 } as const;
const COUNT_EVERY_MS = 5_000;
const RECENT_MESSAGES = 40;
const ROWS_LIVE = 10;
const READ_TIMEOUT_MS = 2_000;

const within = <T>(promise: Promise<T>) => withTimeout(promise, READ_TIMEOUT_MS);
const message = (error: unknown) => hideValues((error as Error)?.message ?? String(error));

/** The reader of one process. */
export function createDashboardReader(deps: ReadDeps): FeedReader {
  const { sql, registry, topology } = deps;
  const m = `${NOMNOM_SCHEMA}.messages`;
  let counts:
    | { at: number; statuses: Record<string, Record<string, number>>; rows: Record<string, number> }
    | undefined;
  // This process's acceptances per rate bucket, sampled each poll (the RateCounter keeps only a minute).
  const acceptedBuckets = new Map<number, number>();
  let acceptedBefore: number | undefined;

  const readCounts = async () => {
    if (counts && Date.now() - counts.at < COUNT_EVERY_MS) return counts;
    const statusRows = await within(
      sql.unsafe(`SELECT entity, status, count(*)::int AS n FROM ${m} GROUP BY entity, status`),
    );
    const tables = registry.stored;
    const [rowCounts] = tables.length === 0 ? [{}] : await within(sql.unsafe(
      `SELECT ${
        tables.map((e, i) => `(SELECT count(*) FROM ${sqlIdent(e.storage!.table)})::float8 AS c${i}`).join(
          ", ",
        )
      }`,
    ));
    const statuses: Record<string, Record<string, number>> = {};
    for (const r of statusRows) (statuses[r.entity] ??= {})[r.status] = r.n;
    const rows: Record<string, number> = {};
    tables.forEach((e, i) => rows[e.name] = Number((rowCounts as Record<string, number>)[`c${i}`]));
    counts = { at: Date.now(), statuses, rows };
    return counts;
  };

  const readRates = async () => {
    const { seconds, count } = RATE_BUCKETS;
    const rows = await within(sql.unsafe(
      `SELECT entity, status, floor(extract(epoch FROM processed_at) / $1)::int AS b, count(*)::int AS n,
              floor(extract(epoch FROM now()) / $1)::int AS now_b
       FROM ${m}
       WHERE status IN ('completed', 'retrying', 'dlq')
         AND processed_at > now() - make_interval(secs => $2)
       GROUP BY 1, 2, 3`,
      [seconds, seconds * count],
    ));
    const end = rows[0]?.now_b ?? Math.floor(Date.now() / 1000 / seconds);
    const series: Record<string, Record<string, number[]>> = {};
    for (const e of registry.ingestible) {
      series[e.name] = { completed: zeros(count), retrying: zeros(count), dlq: zeros(count) };
    }
    for (const r of rows) {
      const i = count - 1 - (end - r.b);
      const s = series[r.entity] ??= { completed: zeros(count), retrying: zeros(count), dlq: zeros(count) };
      if (i >= 0 && i < count) s[r.status][i] = r.n;
    }
    return { bucket_seconds: seconds, end_bucket: end, series, accepted_here: acceptedSeries(end) };
  };

  /** Fold this process's acceptances since the last poll into the current bucket. */
  const sampleAccepted = () => {
    let total = 0;
    for (const { total: t } of deps.accepted.snapshot().values()) total += t;
    const bucket = Math.floor(Date.now() / 1000 / RATE_BUCKETS.seconds);
    if (acceptedBefore !== undefined && total > acceptedBefore) {
      acceptedBuckets.set(bucket, (acceptedBuckets.get(bucket) ?? 0) + total - acceptedBefore);
    }
    acceptedBefore = total;
    for (const b of acceptedBuckets.keys()) if (b <= bucket - RATE_BUCKETS.count) acceptedBuckets.delete(b);
  };
  const acceptedSeries = (end: number) =>
    Array.from(
      { length: RATE_BUCKETS.count },
      (_, i) => acceptedBuckets.get(end - RATE_BUCKETS.count + 1 + i) ?? 0,
    );

  const readRecent = async () => {
    // One backward walk of the (status, processed_at) index per status, merged: no sort of the whole table.
    const parts = STATUSES.map((status) =>
      `(SELECT message_id, entity, status, attempts, left(error, 300) AS error,
               to_json(received_at)#>>'{}' AS received_at, to_json(processed_at)#>>'{}' AS processed_at
        FROM ${m} WHERE status = '${status}' AND processed_at IS NOT NULL
        ORDER BY processed_at DESC LIMIT ${RECENT_MESSAGES})`
    );
    const rows = await within(sql.unsafe(
      `SELECT * FROM (${parts.join(" UNION ALL ")}) recent
       ORDER BY processed_at DESC, message_id DESC LIMIT ${RECENT_MESSAGES}`,
    ));
    return rows.map((r) => ({
      ...r,
      ...(deps.hideValues && r.error ? { error: hideValues(r.error as string) } : {}),
    }));
  };

  const readPipeline = async () => {
    const [ingest, dlq, consumer, workers] = await within(Promise.all([
      deps.jsm.streams.info(topology.ingest.name),
      deps.jsm.streams.info(topology.dlq.name),
      deps.jsm.consumers.info(topology.consumer.stream, topology.consumer.durable_name!),
      readPresence(deps.nc, topology),
    ]));
    return {
      pending: consumer.num_pending,
      ack_pending: consumer.num_ack_pending,
      redelivered: consumer.num_redelivered,
      waiting_pulls: consumer.num_waiting,
      ingest_messages: ingest.state.messages,
      ingest_bytes: ingest.state.bytes,
      dlq_depth: dlq.state.messages,
      workers,
    };
  };

  return async () => {
    sampleAccepted();
    const [c, rates, recent, pipeline, ...tables] = await Promise.allSettled([
      readCounts(),
      readRates(),
      readRecent(),
      readPipeline(),
      ...registry.stored.map((e) => within(readRows(sql, registry, e, { limit: ROWS_LIVE }))),
    ]);
    const pgError = [c, rates, recent].find((r) => r.status === "rejected") as
      | PromiseRejectedResult
      | undefined;
    const here = deps.accepted.snapshot();
    const statuses = c.status === "fulfilled" ? c.value.statuses : undefined;
    const overview = {
      namespace: topology.namespace,
      entities: registry.ingestible.map((e) => {
        const s = statuses?.[e.name];
        const n = (status: string) => statuses ? s?.[status] ?? 0 : null;
        return {
          name: e.name,
          // Whichever replica accepted them: every message with a status row (kept --status-retention-days).
          accepted: statuses ? Object.values(s ?? {}).reduce((sum, k) => sum + k, 0) : null,
          completed: n("completed"),
          retrying: n("retrying"),
          dlq: n("dlq"),
          dropped: n("dropped"),
          in_progress: statuses ? (s?.accepted ?? 0) + (s?.processing ?? 0) : null,
          accepted_here: here.get(e.name)?.total ?? 0,
          tables: [e, ...registry.stored.filter((d) => d.root === e.name && d !== e)]
            .filter((t) => t.storage)
            .map((t) => ({
              entity: t.name,
              table: t.storage!.table,
              rows: c.status === "fulfilled" ? c.value.rows[t.name] ?? 0 : null,
            })),
        };
      }),
      pipeline: pipeline.status === "fulfilled" ? pipeline.value : null,
      health: {
        nats: pipeline.status === "fulfilled" ? { ok: true } : { ok: false, error: message(pipeline.reason) },
        postgres: pgError ? { ok: false, error: message(pgError.reason) } : { ok: true },
      },
      process: {
        role: deps.process.role,
        version: deps.process.version,
        started_at: deps.process.startedAt.toISOString(),
        dashboard_clients: deps.clients(),
      },
    };
    const parts: Record<string, unknown> = { overview };
    // A part that could not be read is left out: the page keeps its last version and shows the source down.
    if (rates.status === "fulfilled") parts.rates = rates.value;
    if (recent.status === "fulfilled") parts.messages = recent.value;
    registry.stored.forEach((e, i) => {
      const t = tables[i];
      if (t.status === "fulfilled") parts[`rows.${e.name}`] = t.value;
    });
    return parts;
  };
}

function zeros(n: number): number[] {
  return Array.from({ length: n }, () => 0);
}
