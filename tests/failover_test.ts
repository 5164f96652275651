/**
 * Losing a NATS node under load: a real three-node JetStream cluster on loopback, `api` and `worker` as child
 * processes of the program with --stream-replicas=3 and every node's URL. The node that leads the ingest stream
 * (moved first to the node the API is connected to) is killed while clients post, then started again. Every
 * message answered 202 ends completed, once; during the election the API answers 503 + Retry-After, never a 202
 * that JetStream did not ack.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { apiUrl } from "./child.ts";
import { createTestEnv, TPCH, waitFor, waitForStatus } from "./harness.ts";
import { type NatsCluster, startNatsCluster } from "./nats_cluster.ts";

const exampleOrder = JSON.parse(await readFile(TPCH + "example_order.json", "utf8"));
const ORDERS = 300;
const CLIENTS = 6;
/** The roles' flags: three copies, every node's URL (the environment's --nats-url), a short publish timeout. */
const ROLE_FLAGS = [
  "--stream-replicas=3",
  "--publish-timeout-ms=2000",
  "--retry-base-ms=200",
  "--retry-max-ms=1000",
];

/** The server_name of the node a client named `name` is connected to, from each node's /connz. */
async function connectedNode(cluster: NatsCluster, name: string): Promise<string | undefined> {
  for (const node of cluster.nodes.filter((n) => n.running())) {
    const connz = await (await fetch(`${node.monitorUrl}/connz`)).json();
    if (connz.connections?.some((c: { name?: string }) => c.name === name)) return node.name;
  }
  return undefined;
}

Deno.test("killing the NATS node that leads the ingest stream under load loses nothing and never answers 202 without an ack", async () => {
  await using cluster = await startNatsCluster(3);
  await using env = await createTestEnv({ nats: cluster });
  const api = env.spawn("api", ROLE_FLAGS);
  const url = await apiUrl(api);
  const worker = env.spawn("worker", ROLE_FLAGS);
  await worker.waitForLog(/"worker started"/, { timeoutMs: 60_000 });
  const nc = await connect({ servers: cluster.url.split(",") });
  try {
    const jsm = await jetstreamManager(nc);
    const stream = `${env.namespace}_ingest`;
    const leader = async () => (await jsm.streams.info(stream)).cluster?.leader;
    assert.equal((await jsm.streams.info(stream)).config.num_replicas, 3);

    // Make the node the API is connected to the stream's leader, so that one kill takes both away.
    const apiNode = await waitFor("the api's NATS connection", () => connectedNode(cluster, "nomnom-api"));
    for (let i = 0; i < 20 && await leader() !== apiNode; i++) {
      const before = await leader();
      await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, "", { timeout: 5000 }).catch(() => {});
      await waitFor("a new stream leader", async () => {
        const now = await leader().catch(() => undefined);
        return now !== undefined && now !== before;
      });
    }
    assert.equal(await leader(), apiNode, "the ingest stream's leader is the api's node");

    const accepted = new Map<string, string>(); // order key → message id
    const answers = new Map<number, number>();
    const without: string[] = [];
    let killing = false;
    let refusedAfterKill = 0;
    let next = 0;
    const client = async () => {
      for (let n = next++; n < ORDERS; n = next++) {
        const key = `F-${n}`;
        for (let attempt = 0;; attempt++) {
          // The key makes a retry after a 503 harmless: the same message id, at most one message stored.
          const response = await fetch(`${url}/ingest/message/Order`, {
            method: "POST",
            headers: { "content-type": "application/json", "idempotency-key": key },
            body: JSON.stringify({ ...exampleOrder, order_key: key }),
          });
          const body = await response.json();
          answers.set(response.status, (answers.get(response.status) ?? 0) + 1);
          if (response.status === 202 || response.status === 200) {
            accepted.set(key, body.message_id);
            break;
          }
          if (response.status !== 503) throw new Error(`${key}: ${response.status} ${JSON.stringify(body)}`);
          if (killing) refusedAfterKill++;
          if (!response.headers.get("retry-after")) without.push(key);
          assert.ok(attempt < 200, `${key} was refused 200 times: ${JSON.stringify(body)}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    const clients = Array.from({ length: CLIENTS }, client);

    await waitFor("a third of the orders accepted", () => accepted.size >= ORDERS / 3, 60_000);
    const killed = (await leader())!;
    killing = true;
    await cluster.kill(killed);
    const atKill = accepted.size;
    await waitFor("a new ingest leader", async () => {
      const now = await leader().catch(() => undefined);
      return now !== undefined && now !== killed;
    }, 60_000);
    await waitFor("more orders accepted without the killed node", () => accepted.size >= atKill + 30, 60_000);
    await cluster.restart(killed);
    await Promise.all(clients);

    // The API's node and the stream's leader went at once: publishes in flight and those sent before a new
    // leader answered cannot have been acked, so some requests must have been refused, not accepted.
    assert.ok(refusedAfterKill > 0, `the election was answered with 503s: ${JSON.stringify([...answers])}`);
    assert.deepEqual(without, [], "every 503 carries Retry-After");
    assert.deepEqual([...answers.keys()].filter((s) => ![200, 202, 503].includes(s)), []);
    const ids = [...accepted.values()];
    assert.equal(new Set(ids).size, ORDERS, "one message id per order");
    await waitForStatus(env.sql, ids, "completed", { timeoutMs: 90_000 }).catch((error) => {
      throw new Error(`${error.message}\n${api.output()}\n${worker.output()}`);
    });
    const [{ orders, keys }] = await env.sql`
      SELECT count(*)::int AS orders, count(DISTINCT order_key)::int AS keys FROM orders`;
    assert.equal(orders, ORDERS, "one row per order");
    assert.equal(keys, ORDERS);
    const [{ messages }] = await env.sql`SELECT count(*)::int AS messages FROM nomnom.messages`;
    assert.equal(messages, ORDERS, "no message stored twice");
    const partial = await env.sql`
      SELECT o.order_key FROM orders o LEFT JOIN order_line_items i USING (order_key)
      GROUP BY o.order_key HAVING count(i.*) <> 2`;
    assert.equal(partial.length, 0, "every order has both of its line items");
    assert.match(api.stderr(), /"nats (disconnect|reconnect)"/, "the api lost its node and reconnected");
    await api.stop();
    await worker.stop();
  } finally {
    await nc.close();
  }
});
