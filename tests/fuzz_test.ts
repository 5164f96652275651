/**
 * A client's mistake is never a 500: malformed bodies, wrong types, odd headers, bad ids and bad query strings
 * sent to every route of a live API (real NATS and PostgreSQL behind it, so a value that only PostgreSQL would
 * reject is caught too); and the same with API keys on, where nothing may be published or changed without the
 * scope.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { createTempDir, createTestEnv, post, TPCH, waitForStatus } from "./harness.ts";

const ORDER = JSON.parse(await Deno.readTextFile(TPCH + "example_order.json"));

const b64url = (text: string) => btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
const UUID = "0190f3c2-7b1e-7000-8000-000000000000";

const BODIES: (string | Uint8Array<ArrayBuffer>)[] = [
  "",
  "{",
  "null",
  "[]",
  "5",
  '"x"',
  '{"order_key": 5, "line_items": "no"}',
  '{"message_ids": "x"}',
  '{"message_ids": [1, null, {}]}',
  '{"entity": {"a": 1}, "since": [], "error": 5}',
  '{"since": "99999-01-01", "until": "2026-02-30T00:00:00Z"}',
  '{"entity_type": 5, "body_base64": "%%%"}',
  '{"body_base64": "e30=", "entity_type": "Nope"}',
  "[".repeat(20_000) + "]".repeat(20_000),
  "{}\n{\n\n[1]\n" + '{"entity_type": ["Order"]}',
  new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
];

const QUERIES = [
  "",
  "?since=garbage",
  "?since=99999-01-01",
  "?until=2026-02-30",
  "?limit=-1",
  "?limit=abc",
  "?limit=1e3",
  "?entity=%00",
  "?error=%00",
  "?entity=%ZZ",
  "?cursor=garbage!",
  `?cursor=${b64url("x|y")}`,
  `?cursor=${b64url(`2026-02-30 00:00:00+00|${UUID}`)}`,
  `?cursor=${b64url(`2026-01-01 00:00:00+00|not-a-uuid`)}`,
];

const IDS = ["x", "%00", "..%2F..%2Fetc", UUID.slice(0, -1), "a".repeat(5000), UUID];

/** Send every malformed request to every route of `base` (with `auth` headers); the answers that were 5xx. */
async function fuzzEveryRoute(base: string, auth: Record<string, string> = {}): Promise<string[]> {
  const paths = [
    "/ingest/message/Order",
    "/ingest/message/Nope",
    "/ingest/message",
    "/ingest/batch",
    "/ingest/batch/Order",
    "/ingest/status",
    "/dlq",
    "/dlq/replay",
    "/health",
    "/ready",
    "/stats",
    "/metrics",
    "/openapi.json",
    "/docs",
    ...IDS.flatMap((id) => [`/ingest/status/${id}`, `/dlq/${id}`, `/dlq/${id}/replay`]),
  ];
  const failures: string[] = [];
  const send = async (method: string, path: string, init: RequestInit = {}) => {
    const headers = { ...auth, ...(init.headers as Record<string, string> | undefined) };
    const response = await fetch(`${base}${path}`, { method, ...init, headers });
    const text = await response.text();
    if (response.status >= 500) {
      failures.push(`${method} ${path} → ${response.status} ${text.slice(0, 200)}`);
    }
  };
  for (const path of paths) {
    for (const method of ["GET", "DELETE", "PUT"]) await send(method, path);
    for (const body of BODIES) {
      for (const type of ["application/json", "application/x-ndjson", "text/plain; charset=utf-16"]) {
        await send("POST", path, { body, headers: { "content-type": type } });
      }
    }
    await send("POST", path, {
      body: "{}",
      headers: {
        "content-type": "application/json",
        "Idempotency-Key": "ü".repeat(300),
        "X-Entity-Type": "%00",
        "X-Request-Id": "<script>",
      },
    });
    await send("GET", path, { headers: { "X-Padding": "x".repeat(60_000) } });
  }
  for (const query of QUERIES) {
    await send("GET", `/dlq${query}`);
    await send("POST", `/dlq/replay${query}`, {
      body: "",
      headers: { "content-type": "application/json" },
    });
    await send("POST", `/ingest/message${query}`, { body: "{}" });
    await send("POST", `/ingest/batch${query}`, { body: "{}", headers: { "content-type": "text/plain" } });
  }
  return failures;
}

Deno.test("malformed requests on every route are answered below 500", async () => {
  await using env = await createTestEnv({ flags: ["--max-message-bytes=65536"] });
  const api = await env.start("api");
  assert.deepEqual(await fuzzEveryRoute(api.url), []);
});

Deno.test({
  name: "with API keys, malformed and valid requests without a key, with a wrong key or without the scope " +
    "are answered below 500 and publish, replay, drop or write nothing",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using dir = await createTempDir();
    const keys = { ingest: "fuzz-ingest-key-0123456789", read: "fuzz-read-key-0123456789" };
    const file = join(dir.path, "keys.yaml");
    await writeFile(
      file,
      `- {name: shop, key: ${keys.ingest}, scopes: [ingest]}\n- {name: viewer, key: ${keys.read}, scopes: [read]}\n`,
    );
    await using env = await createTestEnv({
      flags: ["--max-message-bytes=65536", `--api-keys-file=${file}`],
    });
    await env.migrate();
    await env.sql`ALTER TABLE orders ADD CONSTRAINT fuzz_price_cap CHECK (total_price < 100000)`;
    const all = await env.start("all");
    const dead = await post(`${all.url}/ingest/message/Order`, {
      ...ORDER,
      order_key: "O-DEAD",
      total_price: 1e6,
    }, {
      authorization: `Bearer ${keys.ingest}`,
    });
    const deadId = dead.body.message_id as string;
    await waitForStatus(env.sql, deadId, "dlq");

    const nc = await env.connectNats();
    const jsm = await jetstreamManager(nc);
    const topology = env.topology();
    /** What a request that got through would change: stream sequences, statuses, rows. */
    const snapshot = async () => ({
      ingest: (await jsm.streams.info(topology.ingest.name)).state.last_seq,
      dlq: (await jsm.streams.info(topology.dlq.name)).state,
      statuses: await env.sql`SELECT message_id, status, history FROM nomnom.messages ORDER BY message_id`,
      orders: await env.sql`SELECT count(*)::int AS n FROM orders`,
    });
    const before = await snapshot();

    const valid = JSON.stringify({ ...ORDER, order_key: "O-FUZZ" });
    const json = { "content-type": "application/json" };
    const changes: [string, string, RequestInit][] = [
      ["POST", "/ingest/message/Order", { body: valid, headers: json }],
      ["POST", "/ingest/message?entity=Order", { body: valid, headers: json }],
      ["POST", "/ingest/batch/Order", {
        body: valid + "\n",
        headers: { "content-type": "application/x-ndjson" },
      }],
      ["POST", "/ingest/batch?entity=Order", {
        body: valid + "\n",
        headers: { "content-type": "application/x-ndjson" },
      }],
      ["POST", "/dlq/replay", { body: '{"all": true}', headers: json }],
      ["POST", `/dlq/${deadId}/replay`, {}],
      ["DELETE", `/dlq/${deadId}`, {}],
    ];
    for (
      const [who, auth, refused] of [
        ["no key", {}, 401],
        ["a wrong key", { authorization: "Bearer wrong-key-0123456789" }, 401],
        ["a read key", { authorization: `Bearer ${keys.read}` }, 403],
        ["an ingest key (X-API-Key)", { "x-api-key": keys.ingest }, 403],
      ] as [string, Record<string, string>, number][]
    ) {
      assert.deepEqual(await fuzzEveryRoute(all.url, auth), [], who);
      for (const [method, path, init] of changes) {
        // The ingest key may ingest: only what needs another scope is tried with it.
        if (who.startsWith("an ingest key") && path.startsWith("/ingest")) continue;
        const response = await fetch(`${all.url}${path}`, {
          method,
          ...init,
          headers: { ...auth, ...(init.headers as Record<string, string> | undefined) },
        });
        await response.body?.cancel();
        assert.equal(response.status, refused, `${who}: ${method} ${path}`);
      }
    }
    assert.deepEqual(await snapshot(), before, "nothing was published, replayed, dropped or written");
  },
});

Deno.test("an upload the client cuts short is a 400, never a 500", async () => {
  await using env = await createTestEnv();
  const api = await env.start("api");
  const port = Number(new URL(api.url).port);
  for (
    const [path, head] of [
      ["/ingest/message/Order", "Content-Length: 1000"],
      ["/ingest/batch/Order", "Transfer-Encoding: chunked"],
      ["/ingest/status", "Content-Length: 1000"],
      ["/dlq/replay", "Content-Length: 1000"],
    ]
  ) {
    const answer = await new Promise<string>((resolve) => {
      let received = "";
      const socket = connect(port, "127.0.0.1", () => {
        const start = head.startsWith("Transfer") ? '5\r\n{"a":\r\n' : '{"a":';
        socket.write(
          `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${head}\r\n\r\n${start}`,
        );
        // Half-close: the server sees the body end early while it can still answer.
        setTimeout(() => socket.end(), 100);
      });
      socket.on("data", (chunk) => received += chunk);
      socket.on("close", () => resolve(received));
      socket.on("error", () => resolve(received));
    });
    const status = Number(answer.match(/^HTTP\/1\.1 (\d+)/)?.[1] ?? 0);
    assert.equal(status, 400, `${path}: ${answer.slice(0, 300)}`);
  }
});
