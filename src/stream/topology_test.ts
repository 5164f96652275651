import assert from "node:assert/strict";
import { loadConfig } from "../config.ts";
import { createRegistry } from "../registry/load.ts";
import { createTopology, explainPayloadLimit, storageReservation, subjectsOverlap } from "./topology.ts";

const registry = createRegistry([{
  path: "o.yaml",
  text:
    "entity: { name: Order, fields: [{ name: order_id }], persistence: { database: { unicity_fields: [order_id] } } }",
}]);

Deno.test("subjectsOverlap() follows NATS wildcard rules", () => {
  assert.equal(subjectsOverlap("ns.ingest.>", "ns.dlq.>"), false);
  assert.equal(subjectsOverlap("ns.>", "ns.dlq.>"), true, "a catch-all next to a DLQ overlaps (error 10065)");
  assert.equal(subjectsOverlap("messages.ingest.>", "messages.>"), true);
  assert.equal(subjectsOverlap("ns.*.Order", "ns.dlq.Order"), true);
  assert.equal(subjectsOverlap("ns.ingest", "ns.ingest.>"), false);
  assert.equal(subjectsOverlap("a.b", "a.b"), true);
  assert.equal(subjectsOverlap("a.*", "a.b.c"), false);
});

Deno.test("createTopology() puts ingest and dead-letter subjects in disjoint streams, the consumer on the ingest one", () => {
  const a = createTopology(loadConfig(["--namespace=shop"], {}), registry);
  const id = "01a20659-de93-755e-b6ec-2dba8d6fae48";
  assert.equal(a.ingestSubject("Order", id), `shop.ingest.Order.${id}`);
  assert.equal(a.dlqSubject("Order", id), `shop.dlq.Order.${id}`);
  assert.deepEqual(a.parseSubject(a.dlqSubject("Order", id)), { entity: "Order", messageId: id });
  assert.ok(!subjectsOverlap(a.dlqSubject("Order", id), a.ingestSubject("Order", id)));
  assert.equal(a.consumer.stream, a.ingest.name);
  assert.ok(a.ingest.subjects!.some((s) => subjectsOverlap(s, a.consumer.filter_subject!)));
  for (const s of a.streams) assert.ok(s.max_bytes! > 0, `${s.name} has an explicit size limit`);
  for (const route of a.routes) {
    assert.ok(a.ingest.subjects!.some((s) => subjectsOverlap(s, route.ingest)));
    assert.ok(a.dlq.subjects!.some((s) => subjectsOverlap(s, route.dlq)));
    assert.ok(!a.ingest.subjects!.some((s) => subjectsOverlap(s, route.dlq)));
  }
});

Deno.test("createTopology() keeps two namespaces apart: no stream, subject or consumer of one reaches the other", () => {
  const a = createTopology(loadConfig(["--namespace=shop"], {}), registry);
  const b = createTopology(loadConfig(["--namespace=shop2"], {}), registry);
  const names = (t: typeof a) => [...t.streams.map((s) => s.name), t.consumer.durable_name];
  assert.ok(names(a).every((name) => !names(b).includes(name)), `${names(a)} vs ${names(b)}`);
  for (const sa of a.streams.flatMap((s) => s.subjects!)) {
    for (const sb of b.streams.flatMap((s) => s.subjects!)) {
      assert.ok(!subjectsOverlap(sa, sb), `${sa} / ${sb}`);
    }
  }
  assert.ok(!subjectsOverlap(a.consumer.filter_subject!, b.ingestSubject("Order", "x")));
});

Deno.test("a message limit that cannot fit NATS's max_payload with its headers is refused, naming the flag", () => {
  assert.equal(explainPayloadLimit(1_000_000, 1024 * 1024), undefined);
  assert.match(
    explainPayloadLimit(1024 * 1024, 1024 * 1024)!,
    /--max-message-bytes=1048576 .* at most 1040384/,
  );
});

Deno.test("the dead-letter stream keeps one entry per message subject", () => {
  const t = createTopology(loadConfig(["--namespace=shop"], {}), registry);
  assert.equal(t.dlq.max_msgs_per_subject, 1);
  assert.equal(t.dlq.subjects![0], "shop.dlq.>");
  assert.equal(t.parseSubject(t.dlqSubject("Order", "x")).messageId, "x", "the message id is the last token");
});

Deno.test("storageReservation() counts each stream's max_bytes once per replica: on every server that holds one", () => {
  const config = loadConfig(
    ["--stream-replicas=3", "--stream-max-bytes=104857600", "--dlq-max-bytes=10485760"],
    {},
  );
  const topology = createTopology(config, registry);
  assert.deepEqual(storageReservation(topology), {
    perServer: 115343360,
    servers: 3,
    total: 3 * 115343360,
  });
  assert.equal(topology.consumer.num_replicas, 3, "the consumer has as many copies as the stream");
  const single = createTopology(loadConfig([], {}), registry);
  assert.equal(storageReservation(single).servers, 1);
});
