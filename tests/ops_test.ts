/**
 * Operating nomnom: readiness that follows NATS, backpressure instead of hanging, real stats, metrics that pass
 * promtool, and the worker's own ops port.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import { createTestEnv, post, request, TPCH, waitFor, waitForStatus } from "./harness.ts";
import { startPrivateNats } from "./private_nats.ts";

const exampleOrder = JSON.parse(await readFile(TPCH + "example_order.json", "utf8"));

Deno.test("/ready turns 503 naming NATS when it goes away and 200 when it is back; ingest answers 503 meanwhile", async () => {
  await using nats = await startPrivateNats();
  await using env = await createTestEnv({ nats, flags: ["--publish-timeout-ms=500"] });
  const all = await env.start("all");
  assert.equal((await request(`${all.url}/ready`)).status, 200);
  await nats.pause();
  const notReady = await waitFor("503 from /ready", async () => {
    const r = await request(`${all.url}/ready`);
    return r.status === 503 ? r.body : undefined;
  });
  assert.ok(notReady.checks.some((c: { name: string; ok: boolean }) => c.name === "nats" && !c.ok));
  // /stats degrades instead of failing, and /metrics stops reporting stream figures it cannot read.
  const stats = await request(`${all.url}/stats`);
  assert.equal(stats.status, 200);
  assert.ok(stats.body.errors.nats, "errors names NATS");
  assert.equal(stats.body.stream.messages, null);
  assert.equal(
    typeof stats.body.entities.Order.completed,
    "number",
    "PostgreSQL's figures are still there",
  );
  const metrics = await request(`${all.url}/metrics`);
  assert.equal(metrics.status, 200);
  assert.doesNotMatch(metrics.text, /^nomnom_consumer_lag_messages\{/m, "no stale lag while NATS is away");
  const started = Date.now();
  const refused = await post(`${all.url}/ingest/message/Order`, exampleOrder);
  assert.equal(refused.status, 503);
  assert.ok(Date.now() - started < 3000, "never hangs past the publish timeout");

  await nats.resume();
  await waitFor("200 from /ready", async () => (await request(`${all.url}/ready`)).status === 200, 20_000);
  const accepted = await post(`${all.url}/ingest/message/Order`, exampleOrder);
  assert.equal(accepted.status, 202);
  await waitForStatus(env.sql, accepted.body.message_id as string, "completed");
});

Deno.test("a full stream is refused with 503 and Retry-After, and nothing is reported accepted that was not stored", async () => {
  await using env = await createTestEnv({ flags: ["--stream-max-bytes=1048576"] });
  const api = await env.start("api"); // no worker: the backlog only grows
  const line = JSON.stringify(exampleOrder);
  const batch = await post(`${api.url}/ingest/batch/Order`, Array(2000).fill(line).join("\n"), {
    "content-type": "application/x-ndjson",
  });
  assert.equal(batch.status, 202);
  assert.ok((batch.body.rejected as number) > 0, "some lines did not fit");
  const results = batch.body.results as { status: string; message_id?: string }[];
  const acceptedIds = results.filter((r) => r.status === "accepted").map((r) => r.message_id!);
  const single = await fetch(`${api.url}/ingest/message/Order`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: line,
  });
  assert.equal(single.status, 503);
  assert.ok(Number(single.headers.get("retry-after")) > 0);
  assert.match((await single.json()).details, /full/);
  const stats = (await request(`${api.url}/stats`)).body;
  assert.equal(stats.stream.messages, acceptedIds.length, "every 202 is in the stream, nothing else");
});

Deno.test("/stats and /metrics report real figures, and /metrics passes promtool check metrics", async () => {
  await using env = await createTestEnv();
  const all = await env.start("all");
  const ids: string[] = [];
  for (const key of ["A", "B", "C"]) {
    ids.push(
      (await post(`${all.url}/ingest/message/Order`, { ...exampleOrder, order_key: key })).body
        .message_id as string,
    );
  }
  await waitForStatus(env.sql, ids, "completed");
  const stats = (await request(`${all.url}/stats`)).body;
  assert.equal(stats.entities.Order.completed, 3);
  assert.equal(stats.entities.Order.accepted_by_this_process, 3);
  assert.equal(stats.entities.Order.per_minute.completed, 3);
  assert.equal(stats.entities.Order.per_minute.retrying, 0);
  assert.equal(stats.errors, undefined);
  assert.equal(stats.consumer.lag, 0);
  assert.equal(stats.stream.messages, 0);
  assert.ok(stats.version);
  assert.ok(stats.uptime_seconds >= 0);

  const metrics = await request(`${all.url}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(
    metrics.text,
    /nomnom_messages_processed_total\{entity="Order",outcome="completed",role="all"\} 3/,
  );
  assert.match(metrics.text, /nomnom_messages_published_total\{entity="Order",role="all"\} 3/);
  assert.match(
    metrics.text,
    /nomnom_http_requests_total\{route="\/ingest\/message\/:entity",method="POST",status="202",role="all"\} 3/,
  );
  assert.match(
    metrics.text,
    new RegExp(
      `nomnom_consumer_lag_messages\\{consumer="${env.topology().consumer.durable_name}",role="all"\\} 0`,
    ),
  );
  assert.match(metrics.text, /nomnom_transaction_duration_seconds_count/);
  const check = await new Promise<{ code: number; out: string }>((resolve) => {
    const child = execFile(
      "promtool",
      ["check", "metrics"],
      (error, stdout, stderr) =>
        resolve({ code: error ? (error as { code?: number }).code ?? 1 : 0, out: stdout + stderr }),
    );
    child.stdin!.end(metrics.text);
  });
  assert.equal(check.code, 0, check.out);
});

Deno.test("the worker role serves /health, /ready and /metrics on its own port", async () => {
  await using env = await createTestEnv();
  const worker = await env.start("worker");
  const port = worker.runtime.opsServer!.port;
  assert.ok(port > 0);
  const base = `http://127.0.0.1:${port}`;
  assert.equal((await request(`${base}/health`)).status, 200);
  const ready = await request(`${base}/ready`);
  assert.equal(ready.status, 200);
  assert.deepEqual(ready.body.checks.map((c: { name: string }) => c.name), [
    "running",
    "nats",
    "topology",
    "postgres",
    "migrations",
    "schema",
  ]);
  assert.match(
    (await request(`${base}/metrics`)).text,
    /nomnom_consumer_lag_messages\{consumer="\w+",role="worker"\}/,
  );
  assert.equal((await request(`${base}/ingest/status/x`)).status, 404, "the worker serves no API");
});

Deno.test("/ready names a missing dead-letter stream or worker consumer", async () => {
  await using env = await createTestEnv();
  const nc = await env.connectNats();
  const api = await env.start("api");
  assert.equal((await request(`${api.url}/ready`)).status, 200);
  const jsm = await jetstreamManager(nc);
  const topology = env.topology();
  await jsm.consumers.delete(topology.consumer.stream, topology.consumer.durable_name!);
  await jsm.streams.delete(topology.dlq.name);
  const ready = await request(`${api.url}/ready`);
  assert.equal(ready.status, 503);
  const check = ready.body.checks.find((c: { name: string }) => c.name === "topology");
  assert.equal(check.ok, false);
  assert.match(check.detail, new RegExp(`stream ${topology.dlq.name}\\b`));
  assert.match(check.detail, new RegExp(`consumer ${topology.consumer.durable_name}\\b`));
  assert.doesNotMatch(check.detail, new RegExp(`stream ${topology.ingest.name}\\b`));
});

Deno.test("/stats answers 200 with partial figures and errors.postgres when PostgreSQL is down", async () => {
  await using env = await createTestEnv();
  const api = await env.start("api");
  await env.cutDatabase();
  const stats = await request(`${api.url}/stats`);
  assert.equal(stats.status, 200);
  const body = stats.body;
  assert.ok(body.errors.postgres);
  assert.equal(body.entities.Order.completed, null, "unknown, not zero");
  assert.equal(typeof body.stream.messages, "number", "NATS figures are still there");
});
