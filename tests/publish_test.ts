/**
 * Publishing against a live JetStream: a message too large for NATS is its own error (the API's 413), never
 * the "retry later" of an outage.
 */
import assert from "node:assert/strict";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { silentLogger } from "../src/log.ts";
import { ensureTopology } from "../src/stream/ensure.ts";
import { createPublisher, PublishTooLargeError } from "../src/stream/publish.ts";
import { createTestEnv } from "./harness.ts";

Deno.test("a message over the stream's max_msg_size or the server's max_payload is PublishTooLargeError naming the limit", async () => {
  await using env = await createTestEnv({ flags: ["--max-message-bytes=1024"] });
  const nc = await env.connectNats();
  const topology = env.topology();
  const jsm = await jetstreamManager(nc);
  await ensureTopology(jsm, topology, silentLogger);
  const maxPayload = nc.info!.max_payload;
  const publisher = createPublisher(jetstream(nc), topology, { timeoutMs: 2000, maxPayload });
  const request = (size: number) => ({
    entity: "Order",
    body: new Uint8Array(size),
    messageId: crypto.randomUUID(),
    receivedAt: new Date(),
  });
  await publisher.publish(request(1000));
  await assert.rejects(
    publisher.publish(request(20_000)),
    (e: Error) => e instanceof PublishTooLargeError && e.maxBytes === topology.ingest.max_msg_size,
  );
  await assert.rejects(
    publisher.publish(request(maxPayload + 1)),
    (e: Error) =>
      e instanceof PublishTooLargeError && e.maxBytes === maxPayload && /max_payload/.test(e.message),
  );
});
