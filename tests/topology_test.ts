/**
 * `ensureTopology()` against a live JetStream: creates what is missing, reconciles drift, keeps the ingest and
 * dead-letter subjects apart.
 */
import assert from "node:assert/strict";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { ensureTopology } from "../src/stream/ensure.ts";
import { silentLogger } from "../src/log.ts";
import { createTestEnv } from "./harness.ts";
import { startPrivateNats } from "./private_nats.ts";

Deno.test("ensureTopology() creates the streams and consumer, then reconciles a stream that drifted", async () => {
  await using env = await createTestEnv();
  const nc = await env.connectNats();
  const jsm = await jetstreamManager(nc);
  const topology = env.topology();
  await ensureTopology(jsm, topology, silentLogger);
  const drifted: string[] = [];
  await ensureTopology(jsm, topology, { ...silentLogger, warn: (msg: string) => drifted.push(msg) });
  assert.deepEqual(drifted, [], "a second run finds nothing to reconcile");
  const info = await jsm.streams.info(topology.ingest.name);
  assert.deepEqual(info.config.subjects, topology.ingest.subjects);
  assert.equal(info.config.max_bytes, topology.ingest.max_bytes);

  await jsm.streams.update(topology.ingest.name, { ...info.config, max_bytes: 2 * 1024 * 1024 });
  const warnings: string[] = [];
  const log = {
    ...silentLogger,
    warn: (msg: string, f?: Record<string, unknown>) => warnings.push(`${msg} ${f?.changed}`),
  };
  await ensureTopology(jsm, topology, log);
  assert.equal((await jsm.streams.info(topology.ingest.name)).config.max_bytes, topology.ingest.max_bytes);
  assert.match(warnings.join("\n"), /reconciled stream that drifted max_bytes 2097152 → 67108864/);
});

Deno.test("dead-letter subjects are never captured by the ingest stream", async () => {
  await using env = await createTestEnv();
  const nc = await env.connectNats();
  const jsm = await jetstreamManager(nc);
  const topology = env.topology();
  await ensureTopology(jsm, topology, silentLogger);
  const js = jetstream(nc);
  const dlqAck = await js.publish(topology.dlqSubject("Order", "m1"), "{}");
  assert.equal(dlqAck.stream, topology.dlq.name);
  const ingestAck = await js.publish(topology.ingestSubject("Order", "m1"), "{}");
  assert.equal(ingestAck.stream, topology.ingest.name);
  assert.equal((await jsm.streams.info(topology.ingest.name)).state.messages, 1);
});

Deno.test("streams that ask for more storage than the server allows fail at start with what to change", async () => {
  await using nats = await startPrivateNats("max_file_store: 8MB");
  await using env = await createTestEnv({ nats });
  const jsm = await jetstreamManager(await env.connectNats());
  await assert.rejects(
    () => ensureTopology(jsm, env.topology(), silentLogger),
    /cannot reserve 67108864 bytes.*Lower --stream-max-bytes/,
  );
  await using small = await createTestEnv({
    nats,
    flags: ["--stream-max-bytes=4194304", "--dlq-max-bytes=2097152"],
  });
  await ensureTopology(jsm, small.topology(), silentLogger);
  assert.equal((await jsm.streams.info(small.topology().ingest.name)).config.max_bytes, 4194304);
});

Deno.test("an existing dead-letter stream is reconciled to one entry per message, so a repeat replaces it", async () => {
  await using env = await createTestEnv();
  const nc = await env.connectNats();
  const jsm = await jetstreamManager(nc);
  const topology = env.topology();
  // The DLQ stream as an earlier version made it: any number of messages per subject.
  const { max_msgs_per_subject: _, ...older } = topology.dlq;
  await jsm.streams.add(older as Parameters<typeof jsm.streams.add>[0]);
  await ensureTopology(jsm, topology, silentLogger);
  assert.equal((await jsm.streams.info(topology.dlq.name)).config.max_msgs_per_subject, 1);

  const js = jetstream(nc);
  const subject = topology.dlqSubject("Order", crypto.randomUUID());
  await js.publish(subject, "first move");
  await js.publish(subject, "repeated move");
  const info = await jsm.streams.info(topology.dlq.name);
  assert.equal(info.state.messages, 1, "one dead-letter entry per message");
  const entry = await jsm.streams.getMessage(topology.dlq.name, { last_by_subj: subject });
  assert.equal(new TextDecoder().decode(entry!.data), "repeated move");
});

Deno.test("roles creating the same topology at once all succeed, and a stream of another namespace that captures the subjects is named", async () => {
  await using env = await createTestEnv();
  const topology = env.topology();
  const managers = await Promise.all(
    Array.from({ length: 6 }, async () => jetstreamManager(await env.connectNats())),
  );
  await Promise.all(managers.map((jsm) => ensureTopology(jsm, topology, silentLogger)));
  const jsm = managers[0];
  assert.equal((await jsm.streams.info(topology.ingest.name)).config.num_replicas, 1);

  await using other = await createTestEnv();
  const clash = other.topology();
  await jsm.streams.add({ name: `${clash.ingest.name}_squatter`, subjects: [clash.ingest.subjects[0]] });
  try {
    await assert.rejects(
      () => ensureTopology(jsm, clash, silentLogger),
      /another stream on this NATS server already captures .*--namespace/,
    );
  } finally {
    await jsm.streams.delete(`${clash.ingest.name}_squatter`);
  }
});
