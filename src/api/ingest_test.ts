import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { loadRegistry } from "../registry/load.ts";
import { type Publisher, PublishTooLargeError, PublishUnavailableError } from "../stream/publish.ts";
import type { DeadLetters } from "../lifecycle/dead_letters.ts";
import { createLogger } from "../log.ts";
import { createMetrics } from "../observability/metrics.ts";
import { createApi } from "./app.ts";

const TPCH = new URL("../../tests/fixtures/nomnom-tpch/", import.meta.url).pathname;
const registry = await loadRegistry(TPCH + "entities");
const order = await readFile(TPCH + "example_order.json", "utf8");

/**
 * A publisher that records what it was given (our own small interface; NATS itself is tested in tests/). With
 * `slow`, each ack comes a timer tick later, and `inFlight.max` tells how many publishes waited at once.
 */
function recordingPublisher(fail?: Error, slow = false) {
  const published: { entity: string; body: string; messageId: string; bodySha256?: string }[] = [];
  const inFlight = { now: 0, max: 0 };
  const publisher: Publisher = {
    async publish({ entity, body, messageId, bodySha256 }) {
      if (fail) throw fail;
      published.push({ entity, body: new TextDecoder().decode(body), messageId, bodySha256 });
      const seq = published.length;
      if (slow) {
        inFlight.max = Math.max(inFlight.max, ++inFlight.now);
        await new Promise((resolve) => setTimeout(resolve, 1));
        inFlight.now--;
      }
      return { seq, duplicate: false };
    },
  };
  return { publisher, published, inFlight };
}

function api(fail?: Error, options: { statusesDown?: boolean; slowPublisher?: boolean } = {}) {
  const { publisher, published, inFlight } = recordingPublisher(fail, options.slowPublisher);
  const metrics = createMetrics("api", "test");
  const logs: string[] = [];
  const app = createApi({
    registry,
    publisher,
    // Statuses of what this publisher took (enough for idempotency); the real finder is tested in tests/.
    statuses: {
      find: (ids) =>
        options.statusesDown
          ? Promise.reject(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }))
          : Promise.resolve(
            new Map(ids.flatMap((id) => {
              const p = published.find((x) => x.messageId === id);
              return p
                ? [[id, {
                  message_id: id,
                  entity: p.entity,
                  status: "accepted" as const,
                  received_at: new Date().toISOString(),
                  processed_at: null,
                  attempts: 0,
                  error: null,
                  next_attempt_at: null,
                }]]
                : [];
            })),
          ),
      bodySha256: (_entity, id) => Promise.resolve(published.find((x) => x.messageId === id)?.bodySha256),
    },
    deadLetters: {} as DeadLetters,
    ops: {
      readiness: () => Promise.resolve([{ name: "nats", ok: true }]),
      metrics,
      stats: () => Promise.resolve({}),
    },
    metrics,
    log: createLogger("warn", {}, (line) => logs.push(line)),
    version: "test",
    limits: { messageBytes: 4096, batchBytes: 1 << 20 },
  });
  const request = async (
    path: string,
    body: string | Uint8Array<ArrayBuffer>,
    headers: Record<string, string> = {},
  ) => {
    headers = { "content-type": "application/json", ...headers };
    const response = await app.request(path, { method: "POST", body, headers });
    return { status: response.status, headers: response.headers, body: await response.json() };
  };
  return { request, published, logs, inFlight };
}

Deno.test("POST /ingest/message/{entity} publishes the body unchanged and answers 202 with an id", async () => {
  const { request, published } = api();
  const r = await request("/ingest/message/Order", order);
  assert.equal(r.status, 202);
  assert.equal(r.body.entity, "Order");
  assert.equal(r.body.status, "accepted");
  assert.equal(published[0].messageId, r.body.message_id);
  assert.equal(published[0].body, order);
});

Deno.test("POST /ingest/message/{entity} answers 422 naming every failing field, and publishes nothing", async () => {
  const { request, published } = api();
  const body = JSON.parse(order);
  delete body.order_key;
  body.ship_priority = "high";
  body.line_items[0].quantity = "ten";
  const r = await request("/ingest/message/Order", JSON.stringify(body));
  assert.equal(r.status, 422);
  assert.deepEqual(r.body.details.map((d: { field: string }) => d.field).sort(), [
    "line_items[0].quantity",
    "order_key",
    "ship_priority",
  ]);
  assert.match(r.body.details.find((d: { field: string }) => d.field === "order_key").message, /required/);
  body.order_key = "O1";
  body.ship_priority = 1;
  const derived = await request("/ingest/message/Order", JSON.stringify(body));
  assert.equal(derived.status, 422);
  assert.deepEqual(derived.body.details.map((d: { field: string }) => d.field), ["line_items[0].quantity"]);
  assert.equal(published.length, 0);
});

Deno.test("unknown entities are 404, derived entities say which root to post, malformed JSON is 400", async () => {
  const { request } = api();
  assert.equal((await request("/ingest/message/Invoice", "{}")).status, 404);
  const derived = await request("/ingest/message/OrderLineItem", "{}");
  assert.equal(derived.status, 404);
  assert.match(derived.body.error, /derived from "Order"/);
  const malformed = await request("/ingest/message/Order", '{"order_key":');
  assert.equal(malformed.status, 400);
  assert.match(malformed.body.error, /malformed JSON/);
  assert.equal((await request("/nope", "{}")).status, 404);
});

Deno.test("invalid UTF-8 is a 400, in a message and in an NDJSON batch, never stored as replacement characters", async () => {
  const { request, published } = api();
  const bytes = new TextEncoder().encode(order);
  const broken = new Uint8Array([...bytes.slice(0, 20), 0xff, 0xfe, ...bytes.slice(20)]);
  const single = await request("/ingest/message/Order", broken);
  assert.equal(single.status, 400);
  assert.match(single.body.error, /UTF-8/);
  const batch = await request("/ingest/batch/Order", broken, { "content-type": "application/x-ndjson" });
  assert.equal(batch.status, 400);
  assert.match(batch.body.error, /UTF-8/);
  assert.equal(published.length, 0);
});

Deno.test("POST /ingest/message finds the entity in ?entity=, X-Entity-Type, entity_type or a base64 envelope", async () => {
  const { request, published } = api();
  assert.equal((await request("/ingest/message?entity=Order", order)).status, 202);
  assert.equal((await request("/ingest/message", order, { "X-Entity-Type": "order" })).status, 202);
  const tagged = JSON.stringify({ ...JSON.parse(order), entity_type: "Order" });
  assert.equal((await request("/ingest/message", tagged)).status, 202);
  const envelope = JSON.stringify({ body_base64: btoa(order), entity_type: "Order" });
  assert.equal((await request("/ingest/message", envelope)).status, 202);
  assert.equal(published[3].body, order, "the decoded body is what gets published");
  assert.equal((await request("/ingest/message", order)).status, 400);
});

Deno.test("a publish that is not acked answers 503 with Retry-After, never 202", async () => {
  const { request, logs } = api(new PublishUnavailableError("the ingest stream is full; retry later", 5));
  const r = await request("/ingest/message/Order", order);
  assert.equal(r.status, 503);
  assert.equal(r.headers.get("retry-after"), "5");
  for (let i = 0; i < 20; i++) await request("/ingest/message/Order", order);
  assert.equal(logs.length, 1, "one line for the outage, not one per request");
  assert.match(logs[0], /"level":"warn".*"msg":"NATS unavailable: answering 503/);
});

Deno.test("a body over the limit is 413, whether its Content-Length says so or it is read to the end", async () => {
  const { request, published } = api();
  const big = JSON.stringify({ ...JSON.parse(order), comment: "x".repeat(5000) });
  const bytes = String(new TextEncoder().encode(big).length);
  const declared = await request("/ingest/message/Order", big, { "content-length": bytes });
  assert.equal(declared.status, 413);
  assert.equal(declared.body.error, "request body larger than 4096 bytes");
  assert.equal((await request("/ingest/message/Order", big)).status, 413);
  // Under the limit with its Content-Length: taken (the length is checked from the header alone).
  const fits = await request("/ingest/message/Order", order, { "content-length": String(order.length) });
  assert.equal(fits.status, 202);
  assert.equal(published.length, 1);
});

Deno.test("POST /ingest/batch takes the entity of each line from entity_type", async () => {
  const { request, published } = api();
  const customer = { customer_key: "C1", name: "A", account_balance: 1, entity_type: "Customer" };
  const untagged = JSON.stringify(JSON.parse(order));
  const r = await request("/ingest/batch", [JSON.stringify(customer), untagged].join("\n"));
  assert.equal(r.status, 202);
  assert.deepEqual(r.body.results.map((x: { status: string }) => x.status), ["accepted", "rejected"]);
  assert.equal(published.length, 1);
  const none = await request("/ingest/batch/Customer", "{}\n{}");
  assert.equal(none.status, 422);
});

Deno.test("an Idempotency-Key repeat returns the same message id with duplicate: true and publishes once", async () => {
  const { request, published } = api();
  const first = await request("/ingest/message/Order", order, { "Idempotency-Key": "order-O12345-v1" });
  assert.equal(first.status, 202);
  const again = await request("/ingest/message/Order", order, { "Idempotency-Key": "order-O12345-v1" });
  assert.equal(again.status, 200);
  assert.equal(again.body.duplicate, true);
  assert.equal(again.body.message_id, first.body.message_id);
  assert.equal(published.length, 1);
  const other = await request("/ingest/message/Order", order, { "Idempotency-Key": "order-O12345-v2" });
  assert.notEqual(other.body.message_id, first.body.message_id);
  const changed = await request("/ingest/message/Order", order.replace("O12345", "O12346"), {
    "Idempotency-Key": "order-O12345-v1",
  });
  assert.equal(changed.status, 422, "the same key with another body is refused, not answered as a duplicate");
  assert.deepEqual(changed.body.details, [{ field: "Idempotency-Key", message: "used for another body" }]);
  assert.equal(published.length, 2);
  assert.equal(
    (await request("/ingest/message/Order", order, { "Idempotency-Key": "has space" })).status,
    400,
  );
});

Deno.test("GET /ingest/status rejects what is not a message id with 400", async () => {
  const { request } = api();
  const app = await request("/ingest/status", JSON.stringify({ message_ids: ["nope"] }));
  assert.equal(app.status, 400);
});

const orderLine = JSON.stringify(JSON.parse(order));

Deno.test("a message NATS refuses as too large is a 413 naming the limit, not a 503", async () => {
  const { request } = api(new PublishTooLargeError("message of 2000000 bytes is larger than ...", 1048576));
  const r = await request("/ingest/message/Order", order);
  assert.equal(r.status, 413);
  assert.equal(r.body.details.max_bytes, 1048576);
});

Deno.test("an NDJSON line over --max-message-bytes is rejected with 413 on its own; the other lines are accepted", async () => {
  const { request, published } = api();
  const big = JSON.stringify({ ...JSON.parse(order), comment: "x".repeat(5000) });
  const r = await request("/ingest/batch/Order", [orderLine, big, orderLine].join("\n"), {
    "content-type": "application/x-ndjson",
  });
  assert.equal(r.status, 202);
  assert.equal(r.body.accepted, 2);
  const rejected = r.body.results[1];
  assert.equal(rejected.status, "rejected");
  assert.equal(rejected.code, 413);
  assert.match(rejected.errors[0].message, /line 2 is \d+ bytes, larger than --max-message-bytes \(4096\)/);
  assert.equal(published.length, 2);
});

Deno.test("a batch refused because NATS is unavailable is a 503 with Retry-After", async () => {
  const { request } = api(new PublishUnavailableError("the ingest stream is full; retry later", 5));
  const r = await request("/ingest/batch/Order", [orderLine, orderLine].join("\n"), {
    "content-type": "application/x-ndjson",
  });
  assert.equal(r.status, 503);
  assert.equal(r.headers.get("retry-after"), "5");
  assert.equal(r.body.results[0].retry_after, 5);
});

Deno.test("with PostgreSQL down an Idempotency-Key request is still published (JetStream dedups), with a warning", async () => {
  const { request, published, logs } = api(undefined, { statusesDown: true });
  const r = await request("/ingest/message/Order", order, { "Idempotency-Key": "order-O1-v1" });
  assert.equal(r.status, 202);
  assert.equal(published.length, 1);
  assert.equal(published[0].messageId, r.body.message_id, "the derived id is the Nats-Msg-Id");
  assert.ok(logs.some((l) => /idempotency lookup failed/.test(l) && /"level":"warn"/.test(l)));
});

Deno.test("NDJSON batches keep at most 256 publishes in flight together, and answer each line in order", async () => {
  const { request, published, inFlight } = api(undefined, { slowPublisher: true });
  // Three batches of 300 lines at once (each over 64 KiB, so read chunk by chunk), with blank lines, CRLF and
  // spaces around lines: each line is published byte for byte as sent, and answered under its own number.
  const batches = [0, 1, 2].map((b) =>
    Array.from({ length: 300 }, (_, i) => JSON.stringify({ ...JSON.parse(order), order_key: `O${b}-${i}` }))
  );
  const bodies = batches.map((lines) =>
    lines.map((l, i) => i % 7 === 0 ? `  ${l} ` : l).join("\r\n") + "\n\n"
  );
  const answers = await Promise.all(bodies.map((body) =>
    request("/ingest/batch/Order", body, {
      "content-type": "application/x-ndjson",
      "content-length": String(new TextEncoder().encode(body).length),
    })
  ));
  assert.equal(inFlight.max, 256, "one window for all batches, not 256 for each");
  for (const [b, r] of answers.entries()) {
    assert.equal(r.status, 202);
    assert.equal(r.body.accepted, 300);
    assert.deepEqual(r.body.results.map((x: { line: number }) => x.line), batches[b].map((_, i) => i + 1));
    for (const [i, result] of r.body.results.entries()) {
      const sent = published.find((p) => p.messageId === result.message_id)!;
      assert.equal(sent.body, i % 7 === 0 ? `  ${batches[b][i]} ` : batches[b][i]);
    }
  }
  assert.equal(published.length, 900);
});
