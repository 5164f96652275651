/**
 * --stream-replicas against real servers: a three-node cluster on loopback gets R3 streams and an R3 consumer,
 * a changed value is reconciled in place, and a cluster too small or too full is explained with the setting to
 * change.
 */
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { silentLogger } from "../src/log.ts";
import { ensureTopology, viewCluster } from "../src/stream/ensure.ts";
import { createTestEnv, waitFor } from "./harness.ts";
import { startNatsCluster } from "./nats_cluster.ts";

Deno.test("ensureTopology() puts three copies of both streams and of the consumer on a three-node cluster, and reconciles a changed --stream-replicas", async () => {
  await using cluster = await startNatsCluster(3);
  await using r3 = await createTestEnv({ nats: cluster, flags: ["--stream-replicas=3"] });
  await using r1 = await createTestEnv({ nats: cluster, flags: [`--namespace=${r3.namespace}`] });
  const nc = await connect({ servers: cluster.url.split(",") });
  try {
    const jsm = await jetstreamManager(nc);
    const view = viewCluster(nc.info);
    assert.equal(view.clustered, true);
    const t3 = r3.topology();
    await ensureTopology(jsm, t3, silentLogger, view);
    for (const stream of t3.streams) {
      const info = await jsm.streams.info(stream.name);
      assert.equal(info.config.num_replicas, 3);
      assert.equal(
        1 + (info.cluster?.replicas?.length ?? 0),
        3,
        `${stream.name} has a leader and two replicas`,
      );
    }
    const consumer = await jsm.consumers.info(t3.consumer.stream, t3.consumer.durable_name!);
    assert.equal(consumer.config.num_replicas, 3);

    // The same namespace started with the default (1): the live streams and consumer shrink to one copy.
    const changed: string[] = [];
    const log = {
      ...silentLogger,
      warn: (_: string, f?: Record<string, unknown>) => changed.push(String(f?.changed)),
    };
    await ensureTopology(jsm, r1.topology(), log, view);
    assert.match(changed.join("\n"), /num_replicas 3 → 1/);
    // The cluster applies the change and elects again: wait for it instead of reading mid-election.
    const replicas = async () => {
      const streams = await Promise.all(t3.streams.map((s) => jsm.streams.info(s.name)));
      const consumer = await jsm.consumers.info(t3.consumer.stream, t3.consumer.durable_name!);
      return [...streams.map((s) => s.config.num_replicas), consumer.config.num_replicas];
    };
    await waitFor(
      "one copy of each stream and of the consumer",
      async () => (await replicas()).every((n) => n === 1),
    );
    await ensureTopology(jsm, t3, silentLogger, view);
    await waitFor("three copies again", async () => (await replicas()).every((n) => n === 3));
  } finally {
    await nc.close();
  }
});

Deno.test("more replicas than JetStream servers is refused, naming --stream-replicas, on a single server and on a cluster", async () => {
  await using env = await createTestEnv({ flags: ["--stream-replicas=3"] });
  await using cluster = await startNatsCluster(3);
  await using r5 = await createTestEnv({ nats: cluster, flags: ["--stream-replicas=5"] });
  const single = await env.connectNats();
  const nc = await connect({ servers: cluster.url.split(",") });
  try {
    // A single server would accept an update to R3 and report it, with one copy: refused before anything.
    await assert.rejects(
      async () =>
        ensureTopology(
          await jetstreamManager(single),
          env.topology(),
          silentLogger,
          viewCluster(single.info),
        ),
      /--stream-replicas=3 needs 3 JetStream servers .* but there is 1 \(not a cluster\)\. Lower --stream-replicas/,
    );
    // A cluster answers "no suitable peers" (10005) both when too small and when too full: both causes named.
    await assert.rejects(
      async () =>
        ensureTopology(await jetstreamManager(nc), r5.topology(), silentLogger, viewCluster(nc.info)),
      /cannot place stream "\w+_ingest" with 5 replicas \(error 10005.*fewer than 5 JetStream servers.*Lower --stream-replicas.*Otherwise the servers lack storage/,
    );
  } finally {
    await nc.close();
  }
});

Deno.test("the storage check counts what R3 streams reserve on each server", async () => {
  await using cluster = await startNatsCluster(3, "max_file_store: 48MB");
  const nc = await connect({ servers: cluster.url.split(",") });
  // 32 MiB + 16 MiB = 48 MiB on each of the three servers: more than fits next to the server's own needs.
  await using env = await createTestEnv({
    nats: cluster,
    flags: [
      "--stream-replicas=3",
      `--stream-max-bytes=${40 * 1024 * 1024}`,
      `--dlq-max-bytes=${16 * 1024 * 1024}`,
    ],
  });
  try {
    await waitFor("the connection to learn of all three servers", () => nc.info?.connect_urls?.length === 3);
    await assert.rejects(
      async () =>
        ensureTopology(await jetstreamManager(nc), env.topology(), silentLogger, viewCluster(nc.info)),
      (error: Error) => {
        assert.match(error.message, /cannot place stream "\w+_(ingest|dlq)" with 3 replicas/);
        assert.match(
          error.message,
          /reserve 58720256 bytes on each of 3 servers \(176160768 bytes in the cluster\)/,
        );
        assert.match(error.message, /raise jetstream\.max_file_store on the servers to at least 58720256/);
        assert.doesNotMatch(error.message, /fewer than 3/, "the connection saw three servers");
        return true;
      },
    );
  } finally {
    await nc.close();
  }
});
