/**
 * CORS, the state-changing content-type rule and rate limits, in process (`app.request()`); the same against a
 * real listener, NATS and PostgreSQL is tests/limits_test.ts.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import type { DeadLetters } from "../lifecycle/dead_letters.ts";
import { createLogger } from "../log.ts";
import { createMetrics } from "../observability/metrics.ts";
import { loadRegistry } from "../registry/load.ts";
import type { Publisher } from "../stream/publish.ts";
import { createApi } from "./app.ts";
import { CORS_MAX_AGE_SECONDS } from "./cors.ts";
import { createClientAddress, createTokenBuckets } from "./rate_limit.ts";
import { Hono } from "hono";

const TPCH = new URL("../../tests/fixtures/nomnom-tpch/", import.meta.url).pathname;
const registry = await loadRegistry(TPCH + "entities");
const order = await readFile(TPCH + "example_order.json", "utf8");
const ID = "0193a0c0-0000-7000-8000-000000000001";

function api(options: { cors?: string[]; rate?: number; burst?: number } = {}) {
  const published: string[] = [];
  const dlqCalls: string[] = [];
  const publisher: Publisher = {
    publish({ messageId }) {
      published.push(messageId);
      return Promise.resolve({ seq: published.length, duplicate: false });
    },
  };
  const deadLetters = {
    replay: (id: string) => (dlqCalls.push(`replay ${id}`), Promise.resolve(undefined)),
    drop: (id: string) => (dlqCalls.push(`drop ${id}`), Promise.resolve(false)),
    replayMatching:
      () => (dlqCalls.push("replay matching"),
        Promise.resolve({ matched: 0, replayed: 0, failed: 0, errors: [] })),
  } as unknown as DeadLetters;
  const metrics = createMetrics("api", "test");
  let clock = 0;
  const app = createApi({
    registry,
    publisher,
    statuses: { find: () => Promise.resolve(new Map()), bodySha256: () => Promise.resolve(undefined) },
    deadLetters,
    ops: {
      readiness: () => Promise.resolve([{ name: "nats", ok: true }]),
      metrics,
      stats: () => Promise.resolve({}),
    },
    metrics,
    log: createLogger("error", {}, () => {}),
    version: "test",
    limits: { messageBytes: 1 << 16, batchBytes: 1 << 20 },
    cors: options.cors && {
      origins: options.cors,
      methods: ["GET", "POST", "DELETE"],
      headers: ["Authorization", "Content-Type", "X-API-Key", "Idempotency-Key"],
    },
    rateLimit: options.rate === undefined ? undefined : { rate: options.rate, burst: options.burst },
    now: () => clock,
  });
  const call = (path: string, init: RequestInit = {}, address = "192.0.2.1") =>
    app.request(path, init, { remoteAddress: address });
  return { call, published, dlqCalls, metrics, tick: (ms: number) => (clock += ms) };
}

const postOrder = (headers: Record<string, string> = {}) => ({
  method: "POST",
  body: order,
  headers: { "Content-Type": "application/json", ...headers },
});
const corsHeaders = (response: Response) =>
  [...response.headers.keys()].filter((name) => name.startsWith("access-control-"));

Deno.test("CORS is off by default: no Access-Control-* header, even for a preflight", async () => {
  const { call } = api();
  const preflight = await call("/ingest/message/Order", {
    method: "OPTIONS",
    headers: { Origin: "https://shop.example", "Access-Control-Request-Method": "POST" },
  });
  assert.deepEqual(corsHeaders(preflight), []);
  const post = await call("/ingest/message/Order", postOrder({ Origin: "https://shop.example" }));
  assert.equal(post.status, 202);
  assert.deepEqual(corsHeaders(post), []);
});

Deno.test("a preflight from an allowed origin is a 204 naming methods, headers and max age", async () => {
  const { call } = api({ cors: ["https://shop.example"] });
  const response = await call("/ingest/batch/Order", {
    method: "OPTIONS",
    headers: {
      Origin: "https://shop.example",
      "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "authorization, content-type",
    },
  });
  assert.equal(response.status, 204);
  assert.equal(response.headers.get("access-control-allow-origin"), "https://shop.example");
  assert.equal(response.headers.get("access-control-allow-methods"), "GET,POST,DELETE");
  assert.equal(
    response.headers.get("access-control-allow-headers"),
    "Authorization,Content-Type,X-API-Key,Idempotency-Key",
  );
  assert.equal(response.headers.get("access-control-max-age"), String(CORS_MAX_AGE_SECONDS));
  assert.equal(response.headers.get("access-control-allow-credentials"), null);
  assert.match(response.headers.get("vary") ?? "", /Origin/);
  // The real request: allowed, with the headers a page needs to read exposed.
  const post = await call("/ingest/message/Order", postOrder({ Origin: "https://shop.example" }));
  assert.equal(post.status, 202);
  assert.equal(post.headers.get("access-control-allow-origin"), "https://shop.example");
  const exposed = post.headers.get("access-control-expose-headers")?.split(",") ?? [];
  for (const name of ["X-Request-Id", "Retry-After", "RateLimit", "RateLimit-Policy"]) {
    assert.ok(exposed.includes(name), `${name} is exposed`);
  }
  assert.match(post.headers.get("vary") ?? "", /Origin/);
});

Deno.test("a disallowed origin gets no CORS header; its preflight is a 403 naming --cors-origins", async () => {
  const { call, published } = api({ cors: ["https://shop.example"] });
  const preflight = await call("/ingest/message/Order", {
    method: "OPTIONS",
    headers: { Origin: "https://evil.example", "Access-Control-Request-Method": "POST" },
  });
  assert.equal(preflight.status, 403);
  assert.deepEqual(corsHeaders(preflight), []);
  assert.match((await preflight.json()).error, /--cors-origins/);
  assert.match(preflight.headers.get("vary") ?? "", /Origin/);
  const get = await call("/health", { headers: { Origin: "https://evil.example" } });
  assert.equal(get.status, 200);
  assert.deepEqual(corsHeaders(get), []);
  assert.match(get.headers.get("vary") ?? "", /Origin/);
  assert.equal(published.length, 0);
});

Deno.test("every state-changing route needs a JSON content type: bodyless DLQ calls without one are 415", async () => {
  const { call, dlqCalls } = api();
  for (
    const [method, path] of [
      ["POST", `/dlq/${ID}/replay`],
      ["DELETE", `/dlq/${ID}`],
      ["POST", "/dlq/replay?all=true"],
      ["POST", "/ingest/message/Order"],
      ["POST", "/ingest/status"],
    ]
  ) {
    for (
      const type of [undefined, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
    ) {
      const response = await call(path, { method, headers: type ? { "Content-Type": type } : {} });
      assert.equal(response.status, 415, `${method} ${path} with ${type ?? "no type"}`);
      assert.match((await response.json()).error, /application\/json/);
    }
  }
  assert.deepEqual(dlqCalls, [], "nothing was replayed or dropped");
  const json = { "Content-Type": "application/json" };
  assert.equal((await call(`/dlq/${ID}/replay`, { method: "POST", headers: json })).status, 404);
  assert.equal((await call(`/dlq/${ID}`, { method: "DELETE", headers: json })).status, 404);
  assert.deepEqual(dlqCalls, [`replay ${ID}`, `drop ${ID}`]);
  // Batches take NDJSON (or JSON), never text/plain.
  const batch = await call("/ingest/batch/Order", {
    method: "POST",
    body: order,
    headers: { "Content-Type": "text/plain" },
  });
  assert.equal(batch.status, 415);
  assert.match((await batch.json()).error, /application\/x-ndjson/);
  // Unknown routes stay 404, reads need no type.
  assert.equal((await call("/nope", { method: "POST" })).status, 404);
  assert.equal((await call("/dlq/replay", { method: "GET" })).status, 400);
});

Deno.test("a rate-limited client gets 429 with Retry-After and RateLimit fields; another client is unaffected", async () => {
  const { call, published, metrics, tick } = api({ rate: 2, burst: 3 });
  const first = await call("/ingest/message/Order", postOrder());
  assert.equal(first.status, 202);
  assert.equal(first.headers.get("ratelimit-policy"), '"messages";q=3;w=2');
  assert.equal(first.headers.get("ratelimit"), '"messages";r=2;t=1');
  for (let i = 0; i < 2; i++) assert.equal((await call("/ingest/message/Order", postOrder())).status, 202);
  const refused = await call("/ingest/message/Order", postOrder());
  assert.equal(refused.status, 429);
  assert.equal(refused.headers.get("retry-after"), "1");
  assert.equal(refused.headers.get("ratelimit"), '"messages";r=0;t=2');
  assert.equal(refused.headers.get("ratelimit-policy"), '"messages";q=3;w=2');
  const body = await refused.json();
  assert.match(body.error, /rate limit/);
  assert.deepEqual(body.details, { retry_after: 1 });
  assert.equal(published.length, 3);
  // Another address has its own bucket; probes are never counted.
  assert.equal((await call("/ingest/message/Order", postOrder(), "192.0.2.2")).status, 202);
  assert.equal((await call("/health")).status, 200);
  assert.match(
    await metrics.registry.metrics(),
    /nomnom_rate_limited_requests_total\{route="\/ingest\/message\/:entity"[^}]*\} 1\n/,
  );
  // The bucket refills at the rate: half a second is one message.
  tick(500);
  assert.equal((await call("/ingest/message/Order", postOrder())).status, 202);
  assert.equal((await call("/ingest/message/Order", postOrder())).status, 429);
});

Deno.test("an NDJSON batch counts its lines and is refused whole, before any line is published", async () => {
  const { call, published, tick } = api({ rate: 1, burst: 5 });
  const ndjson = (lines: number) => ({
    method: "POST",
    body: Array(lines).fill(order.replace(/\n/g, " ")).join("\n") + "\n",
    headers: { "Content-Type": "application/x-ndjson" },
  });
  const three = await call("/ingest/batch/Order", ndjson(3));
  assert.equal(three.status, 202);
  assert.equal(three.headers.get("ratelimit"), '"messages";r=2;t=3');
  const again = await call("/ingest/batch/Order", ndjson(3));
  assert.equal(again.status, 429);
  assert.equal(again.headers.get("retry-after"), "1");
  assert.equal(published.length, 3, "none of the refused batch's lines was published");
  tick(1000);
  assert.equal((await call("/ingest/batch/Order", ndjson(3))).status, 202);
  // More lines than the bucket holds can never pass: 413 naming the setting, not a 429 to retry forever.
  const huge = await call("/ingest/batch/Order", ndjson(6));
  assert.equal(huge.status, 413);
  assert.match((await huge.json()).error, /--rate-limit-burst \(5\)/);
  assert.equal(published.length, 6);
});

Deno.test("createTokenBuckets() refills at the rate, never above the burst, and forgets idle clients", () => {
  let now = 0;
  const buckets = createTokenBuckets({ rate: 10, burst: 20, now: () => now, maxBuckets: 3 });
  assert.equal(buckets.take("a", 20).ok, true);
  assert.deepEqual(buckets.take("a", 1), { ok: false, remaining: 0, retryAfterSeconds: 1, fullInSeconds: 2 });
  now += 1000;
  assert.equal(buckets.take("a", 10).ok, true);
  assert.equal(buckets.take("a", 1).ok, false);
  now += 60_000;
  assert.equal(buckets.take("a", 20).ok, true, "full again, and no fuller");
  assert.equal(buckets.take("a", 1).ok, false);
  for (const id of ["b", "c", "d", "e"]) buckets.take(id, 1);
  assert.equal(buckets.size(), 3, "never more buckets than maxBuckets");
  now += 2000;
  buckets.take("f", 1);
  assert.equal(buckets.size(), 1, "refilled buckets are dropped");
});

Deno.test("createClientAddress() believes X-Forwarded-For only from a trusted proxy", async () => {
  const seen = async (trusted: string[] | undefined, remote: string, forwarded?: string) => {
    const app = new Hono();
    const address = createClientAddress(trusted);
    app.get("/", (c) => c.text(address(c)));
    const headers: Record<string, string> = forwarded ? { "X-Forwarded-For": forwarded } : {};
    return await (await app.request("/", { headers }, { remoteAddress: remote })).text();
  };
  assert.equal(await seen(undefined, "10.0.0.5", "203.0.113.9"), "10.0.0.5");
  assert.equal(await seen(["10.0.0.0/8"], "10.0.0.5", "203.0.113.9"), "203.0.113.9");
  assert.equal(await seen(["10.0.0.0/8"], "10.0.0.5", "1.1.1.1, 203.0.113.9, 10.1.1.1"), "203.0.113.9");
  assert.equal(
    await seen(["10.0.0.0/8"], "198.51.100.7", "203.0.113.9"),
    "198.51.100.7",
    "not a trusted proxy",
  );
  assert.equal(await seen(["10.0.0.0/8"], "10.0.0.5", "garbage"), "10.0.0.5");
  assert.equal(await seen(undefined, "2001:db8:0:1::5"), "2001:db8:0:1::/64");
  assert.equal(await seen(undefined, "2001:0db8:0000:0001:ffff::9"), "2001:db8:0:1::/64");
});

Deno.test("an allowed page can read a refusal: the 429 carries its CORS headers", async () => {
  const { call } = api({ cors: ["https://shop.example"], rate: 1, burst: 1 });
  const origin = { Origin: "https://shop.example" };
  assert.equal((await call("/ingest/message/Order", postOrder(origin))).status, 202);
  const refused = await call("/ingest/message/Order", postOrder(origin));
  assert.equal(refused.status, 429);
  assert.equal(refused.headers.get("access-control-allow-origin"), "https://shop.example");
  assert.match(refused.headers.get("access-control-expose-headers") ?? "", /Retry-After/);
  assert.ok(refused.headers.get("retry-after"));
  assert.equal((refused.headers.get("vary") ?? "").match(/Origin/g)?.length, 1, "Vary names Origin once");
});
