/**
 * Roles started together with a fresh NATS cluster: JetStream answers only once the cluster has elected its
 * meta leader (seconds after the servers accept clients). A role waits for it, within a bound, and when the
 * bound passes it says what did not answer instead of a bare "timeout".
 */
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, TimeoutError } from "@nats-io/transport-node";
import { connectJetStream } from "../src/stream/connect.ts";
import { createLogger } from "../src/log.ts";
import { apiUrl } from "./child.ts";
import { createTestEnv } from "./harness.ts";
import { startNatsCluster } from "./nats_cluster.ts";

Deno.test("an R3 API and worker started before the cluster has a meta leader wait for it and start", async () => {
  // One server of three first: the cluster cannot elect a meta leader until a second one joins.
  await using cluster = await startNatsCluster(3, "", { until: "listening", launch: 1 });
  await using env = await createTestEnv({ nats: { url: cluster.nodes[0].url } });
  const api = env.spawn("api", ["--stream-replicas=3"]);
  const worker = env.spawn("worker", ["--stream-replicas=3"]);
  const waiting = /JetStream does not answer yet/;
  await Promise.race([
    Promise.all([
      api.waitForLog(waiting, { timeoutMs: 30_000 }),
      worker.waitForLog(waiting, { timeoutMs: 30_000 }),
    ]),
    api.exited.then((code) => assert.fail(`the API exited (${code}) instead of waiting:\n${api.output()}`)),
    worker.exited.then((code) =>
      assert.fail(`the worker exited (${code}) instead of waiting:\n${worker.output()}`)
    ),
  ]);
  await Promise.all(cluster.nodes.slice(1).map((node) => cluster.restart(node.name)));
  await apiUrl(api, 60_000);
  await worker.waitForLog(/"worker started"/, { timeoutMs: 60_000 });
  const nc = await connect({ servers: cluster.url.split(",") });
  try {
    const stream = await (await jetstreamManager(nc)).streams.info(env.topology().ingest.name);
    assert.equal(stream.config.num_replicas, 3);
  } finally {
    await nc.close();
  }
});

Deno.test("connectJetStream() names what did not answer when a cluster has no meta leader", async () => {
  // One server of three: no majority, never a meta leader.
  await using cluster = await startNatsCluster(3, "", { until: "listening", launch: 1 });
  const nc = await connect({ servers: cluster.nodes[0].url });
  try {
    const error = await connectJetStream(nc, createLogger("error"), 3_000).then(() => undefined, (e) => e);
    assert.ok(error instanceof TimeoutError, `a TimeoutError, not ${error}`);
    assert.match(
      error.message,
      /JetStream at .+ did not answer its account info request \(\$JS\.API\.INFO\)/,
    );
    assert.match(error.message, /meta leader/);
  } finally {
    await nc.close();
  }
});
