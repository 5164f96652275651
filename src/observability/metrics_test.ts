import assert from "node:assert/strict";
import { createMetrics, type StreamFigures } from "./metrics.ts";

Deno.test("stream gauges are labelled with their stream or consumer and left out of a scrape that cannot read them", async () => {
  const metrics = createMetrics("api", "test");
  let figures: StreamFigures | undefined = {
    ingestMessages: 7,
    ingestBytes: 700,
    dlqMessages: 2,
    consumerPending: 3,
    consumerAckPending: 1,
  };
  metrics.setStreamReader(
    () => figures ? Promise.resolve(figures) : Promise.reject(new Error("NATS is away")),
    { ingest: "ns_ingest", dlq: "ns_dlq", consumer: "ns_worker" },
  );
  const up = await metrics.expose();
  assert.match(up, /^nomnom_stream_messages\{stream="ns_ingest",role="api"\} 7$/m);
  assert.match(up, /^nomnom_stream_bytes\{stream="ns_ingest",role="api"\} 700$/m);
  assert.match(up, /^nomnom_dlq_messages\{stream="ns_dlq",role="api"\} 2$/m);
  assert.match(up, /^nomnom_consumer_lag_messages\{consumer="ns_worker",role="api"\} 4$/m);
  figures = undefined;
  const down = await metrics.expose();
  assert.doesNotMatch(down, /^nomnom_(stream_messages|stream_bytes|dlq_messages|consumer_lag_messages)\{/m);
  assert.match(down, /^nomnom_info\{/m, "the rest is still reported");
});
