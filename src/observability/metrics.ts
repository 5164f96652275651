/**
 * Prometheus metrics (prom-client, one registry per process). The API and the worker record into the same
 * object; gauges that describe NATS (stream size, DLQ size, consumer lag) are read at scrape time, labelled with
 * the stream or consumer they describe, and left out of a scrape in which they could not be read (a stale value
 * would look like a healthy one; a missing series is what alerts like `absent()` are for).
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** What the scrape-time gauges read: filled in by whoever has a JetStream connection. */
export type StreamFigures = {
  ingestMessages: number;
  ingestBytes: number;
  dlqMessages: number;
  consumerPending: number;
  consumerAckPending: number;
};

export type Metrics = ReturnType<typeof createMetrics>;

/** The names the scrape-time gauges are labelled with. */
export type StreamNames = { ingest: string; dlq: string; consumer: string };

/** Create the metrics of one process. `readStream` is called on each scrape. */
export function createMetrics(role: string, version: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ role });
  let readStream: (() => Promise<StreamFigures>) | undefined;
  let names: StreamNames | undefined;
  let figures: Promise<StreamFigures | undefined> | undefined;
  // One JetStream round trip per scrape, shared by the gauges that read it.
  const streamFigures =
    () => (figures ??= (readStream?.() ?? Promise.resolve(undefined)).catch(() => undefined));

  new Gauge({
    name: "nomnom_info",
    help: "nomnom build information",
    labelNames: ["version"],
    registers: [registry],
  })
    .set({ version }, 1);
  const gauge = (
    name: string,
    help: string,
    label: "stream" | "consumer",
    which: keyof StreamNames,
    pick: (f: StreamFigures) => number,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      async collect() {
        const f = await streamFigures();
        this.reset();
        if (f && names) this.set({ [label]: names[which] }, pick(f));
      },
    });

  const metrics = {
    registry,
    httpRequests: new Counter({
      name: "nomnom_http_requests_total",
      help: "HTTP requests by route, method and status",
      labelNames: ["route", "method", "status"],
      registers: [registry],
    }),
    httpSeconds: new Histogram({
      name: "nomnom_http_request_duration_seconds",
      help: "HTTP request latency by route and method",
      labelNames: ["route", "method"],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: "nomnom_rate_limited_requests_total",
      help:
        "Requests refused by --rate-limit (429, or 413 for a batch larger than --rate-limit-burst) by route",
      labelNames: ["route"],
      registers: [registry],
    }),
    published: new Counter({
      name: "nomnom_messages_published_total",
      help: "Messages stored in JetStream (acked publishes) by entity",
      labelNames: ["entity"],
      registers: [registry],
    }),
    publishSeconds: new Histogram({
      name: "nomnom_publish_duration_seconds",
      help: "Time from publish to JetStream ack",
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    processed: new Counter({
      name: "nomnom_messages_processed_total",
      help: "Messages handled by the worker, by entity and outcome (completed, retried, dead_lettered)",
      labelNames: ["entity", "outcome"],
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: "nomnom_batch_size",
      help: "Messages per worker batch",
      buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
      registers: [registry],
    }),
    schemaMismatch: new Gauge({
      name: "nomnom_schema_mismatch",
      help: "1 while an entity's messages are held because its table does not match the entity, else 0",
      labelNames: ["entity"],
      registers: [registry],
    }),
    transactionSeconds: new Histogram({
      name: "nomnom_transaction_duration_seconds",
      help: "Duration of one batch transaction",
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    dlqSize: gauge(
      "nomnom_dlq_messages",
      "Messages in the dead-letter stream",
      "stream",
      "dlq",
      (f) => f.dlqMessages,
    ),
    consumerLag: gauge(
      "nomnom_consumer_lag_messages",
      "Messages not yet processed: consumer pending + ack pending (what to scale workers on)",
      "consumer",
      "consumer",
      (f) => f.consumerPending + f.consumerAckPending,
    ),
    streamMessages: gauge(
      "nomnom_stream_messages",
      "Messages in the ingest stream",
      "stream",
      "ingest",
      (f) => f.ingestMessages,
    ),
    streamBytes: gauge(
      "nomnom_stream_bytes",
      "Bytes in the ingest stream",
      "stream",
      "ingest",
      (f) => f.ingestBytes,
    ),
    /** Set how stream figures are read (once JetStream is connected) and the names they are labelled with. */
    setStreamReader(reader: () => Promise<StreamFigures>, streamNames: StreamNames) {
      readStream = reader;
      names = streamNames;
    },
    /** Prometheus text exposition; stream figures are read once per call. */
    async expose(): Promise<string> {
      figures = undefined;
      return await registry.metrics();
    },
  };
  return metrics;
}
