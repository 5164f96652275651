/**
 * Baseline M of `deno task bench`: the ingest service a user could write by hand in twenty lines. Hono and
 * nats.js: read the body, JSON.parse it, publish it with an ack, answer 202. No validation, no status, no
 * metrics, no headers. It listens through nomnom's own listener (src/api/serve.ts) with nomnom's NATS client
 * options, on the same runtime, so what nomnom's API costs beyond it is nomnom's own work.
 *
 *   <deno run -A | bun run> bench/minimal_service.ts <nats-url> <subject prefix, e.g. ns.ingest>
 */
import process from "node:process";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Hono } from "hono";
import { v7 as uuidv7 } from "uuid";
import { serveHttp } from "../src/api/serve.ts";

const [natsUrl, prefix] = process.argv.slice(2);
const nc = await connect({ servers: natsUrl, noAsyncTraces: true });
const js = jetstream(nc);
const app = new Hono();
app.post("/ingest/message/:entity", async (c) => {
  const body = await c.req.text();
  JSON.parse(body);
  const id = uuidv7();
  await js.publish(`${prefix}.${c.req.param("entity")}.${id}`, body, { msgID: id });
  return c.json({ message_id: id }, 202);
});
const server = await serveHttp(app.fetch, "127.0.0.1", 0);
console.log(`API http://127.0.0.1:${server.port}`);
