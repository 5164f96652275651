/**
 * Losing the NATS node that leads the durable consumer (three-node cluster, R3): the worker's open pull request
 * dies with that node and nothing tells the client. It must notice (missed idle heartbeats) and pull from the new
 * leader within seconds, not when its pull would have expired: with consume()'s defaults (30 s expiry, 15 s
 * heartbeats, two missed) processing stopped for 30-36 s.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { createTestEnv, post, TPCH, waitFor, waitForStatus } from "./harness.ts";
import { startNatsCluster } from "./nats_cluster.ts";

const exampleOrder = JSON.parse(await readFile(TPCH + "example_order.json", "utf8"));
/** Generous against the 1 s heartbeats and an election, far below the 30 s the old pull waited. */
const RESUMES_WITHIN_MS = 15_000;

Deno.test("killing the node that leads the worker's consumer pauses processing for seconds, not until the pull expires", async () => {
  await using cluster = await startNatsCluster(3);
  {
    await using env = await createTestEnv({ nats: { url: cluster.url }, flags: ["--stream-replicas=3"] });
    const api = await env.start("api");
    const worker = await env.start("worker");
    const first = await post(`${api.url}/ingest/message/Order`, exampleOrder);
    await waitForStatus(env.sql, first.body.message_id as string, "completed");

    const nc = await connect({ servers: cluster.url.split(",") });
    try {
      const jsm = await jetstreamManager(nc);
      const { stream, durable_name } = env.topology().consumer;
      const leader = async () => (await jsm.consumers.info(stream, durable_name!)).cluster?.leader;
      // The worker must not be connected to the node that dies (a reconnect would restart its pull anyway):
      // move the consumer's leadership off the worker's node.
      const workerNode = worker.runtime.nats!.nc.info!.server_name;
      await waitFor("a consumer leader away from the worker's node", async () => {
        const now = await leader();
        if (now && now !== workerNode) return now;
        await nc.request(`$JS.API.CONSUMER.LEADER.STEPDOWN.${stream}.${durable_name}`, "", { timeout: 5000 })
          .catch(() => {});
      }, 30_000);
      const doomed = (await leader())!;
      await cluster.kill(doomed);
      const killedAt = Date.now();

      // Posted after the kill (retried while the stream elects a leader, if it had one there too).
      const id = await waitFor("a post accepted after the kill", async () => {
        const r = await post(`${api.url}/ingest/message/Order`, { ...exampleOrder, order_key: "F1" })
          .catch(() => undefined);
        return r?.status === 202 ? r.body.message_id as string : undefined;
      }, RESUMES_WITHIN_MS);
      await waitForStatus(env.sql, id, "completed", { timeoutMs: RESUMES_WITHIN_MS });
      const stalled = Date.now() - killedAt;
      assert.ok(
        stalled < RESUMES_WITHIN_MS,
        `processing resumed ${stalled} ms after the consumer leader ${doomed} died`,
      );
    } finally {
      await nc.close();
    }
  }
});
