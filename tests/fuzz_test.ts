/**
 * A client's mistake is never a 500: malformed bodies, wrong types, odd headers, bad ids and bad query strings
 * sent to every route of a live API (real NATS and PostgreSQL behind it, so a value that only PostgreSQL would
 * reject is caught too).
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { createTestEnv } from "./harness.ts";

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

Deno.test("malformed requests on every route are answered below 500", async () => {
  await using env = await createTestEnv({ flags: ["--max-message-bytes=65536"] });
  const api = await env.start("api");
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
    const response = await fetch(`${api.url}${path}`, { method, ...init });
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
  assert.deepEqual(failures, []);
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
