import assert from "node:assert/strict";
import { createResponseChecker } from "../../tests/openapi_check.ts";
import { type DeadLetters, DlqConflictError } from "../lifecycle/dead_letters.ts";
import type { StatusView } from "../lifecycle/status.ts";
import { silentLogger } from "../log.ts";
import { createMetrics } from "../observability/metrics.ts";
import { loadRegistry } from "../registry/load.ts";
import { PublishUnavailableError } from "../stream/publish.ts";
import { createApi } from "./app.ts";
import type { DeadLetter } from "./contract.ts";

type Json = Record<string, unknown>;

const registry = await loadRegistry(
  new URL("../../tests/fixtures/nomnom-tpch/entities", import.meta.url).pathname,
);

const KNOWN = "0193a0c0-5d1e-7c2a-9f00-3b6d2e8a4c17";
const REPLAYED = "0193a0c0-5d1e-7c2a-9f00-3b6d2e8a4c18";
const UNKNOWN = "0193a0c0-5d1e-7c2a-9f00-3b6d2e8a4c19";

const completed: StatusView = {
  message_id: KNOWN,
  entity: "Order",
  status: "completed",
  received_at: "2026-11-23T10:15:00.123Z",
  processed_at: "2026-11-23T10:15:00.310Z",
  attempts: 1,
  error: null,
  next_attempt_at: null,
  // As PostgreSQL writes now() into jsonb: microseconds and an offset.
  history: [{ status: "completed", at: "2026-11-23T10:15:00.310512+00:00", attempts: 1 }],
};
const deadLetter: DeadLetter = {
  ...completed,
  status: "dlq",
  error: "[22003] value out of range",
  history: [{ status: "dlq", at: "2026-11-23T10:15:00.310512+00:00", attempts: 1, error: "[22003] …" }],
  dead_at: "2026-11-23T10:15:00.310Z",
  message: { order_key: "O1" },
  dlq_seq: 3,
};

/** Dead letters as the lifecycle reports them (the real one is tested live in tests/contract_test.ts). */
const deadLetters: DeadLetters = {
  list: () =>
    Promise.resolve({
      entries: [{ ...deadLetter, message: undefined, dlq_seq: undefined }],
      next_cursor: "abc",
    }),
  show: (id) => Promise.resolve(id === KNOWN ? deadLetter : undefined),
  replay: (id) => {
    if (id === REPLAYED) {
      return Promise.reject(new DlqConflictError(`message ${id} is not in the dead-letter queue`));
    }
    return Promise.resolve(
      id === KNOWN ? { message_id: id, entity: "Order", status: "accepted" as const } : undefined,
    );
  },
  replayMatching: () =>
    Promise.resolve({ matched: 2, replayed: 1, failed: 1, errors: [`${REPLAYED}: gone`] }),
  drop: (id) => Promise.resolve(id === KNOWN),
};

function api(options: { unavailable?: boolean; ready?: boolean; seen?: boolean } = {}) {
  const metrics = createMetrics("api", "test");
  return createApi({
    registry,
    publisher: {
      publish: () =>
        options.unavailable
          ? Promise.reject(new PublishUnavailableError("the ingest stream is full; retry later", 5))
          : Promise.resolve({ seq: 1, duplicate: false }),
    },
    // `seen`: every id asked about exists already (an Idempotency-Key repeat).
    statuses: {
      find: (ids) => {
        const found = ids.filter((id) => options.seen || id === KNOWN);
        return Promise.resolve(new Map(found.map((id) => [id, { ...completed, message_id: id }])));
      },
      // No hash kept: a repeat is not compared (tests/idempotency_test.ts covers the comparison).
      bodySha256: () => Promise.resolve(undefined),
    },
    deadLetters,
    ops: {
      readiness: () => Promise.resolve([{ name: "nats", ok: options.ready ?? true, detail: "connected" }]),
      metrics,
      stats: () => Promise.resolve({ version: "1.2.3" }),
    },
    metrics,
    log: silentLogger,
    version: "1.2.3",
    limits: { messageBytes: 4096, batchBytes: 1 << 20 },
  });
}

const document = await (await api().request("/openapi.json")).json();
const check = createResponseChecker(document);
const examples = (path: string, type: string) => document.paths[path].post.requestBody.content[type].example;

/** Send a request to `app` and check the answer against the document; returns the status and body. */
async function call(app: ReturnType<typeof api>, method: string, url: string, body?: unknown, headers = {}) {
  const init: RequestInit = { method, headers: { "content-type": "application/json", ...headers } };
  if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
  const response = await app.request(url, init);
  return { status: response.status, body: await check(method, url, response) as Json };
}

Deno.test("the documented example of each entity is accepted by its path, as Swagger UI's Try it out sends it", async () => {
  const app = api();
  for (const entity of registry.ingestible) {
    const one = await call(
      app,
      "POST",
      `/ingest/message/${entity.name}`,
      examples(`/ingest/message/${entity.name}`, "application/json"),
    );
    assert.equal(one.status, 202, `${entity.name}: ${JSON.stringify(one.body)}`);
    assert.equal(one.body.entity, entity.name);
    const ndjson = examples(`/ingest/batch/${entity.name}`, "application/x-ndjson");
    const batch = await call(app, "POST", `/ingest/batch/${entity.name}`, ndjson, {
      "content-type": "application/x-ndjson",
    });
    assert.equal(batch.status, 202);
    assert.equal(batch.body.rejected, 0, JSON.stringify(batch.body));
  }
  const mixed = await call(app, "POST", "/ingest/batch", examples("/ingest/batch", "application/x-ndjson"), {
    "content-type": "application/x-ndjson",
  });
  assert.deepEqual([mixed.body.accepted, mixed.body.rejected], [registry.ingestible.length, 0]);
});

Deno.test("ingest answers (accepted, repeats, rejected lines and every error) match the documented schemas", async () => {
  const app = api();
  const order = examples("/ingest/message/Order", "application/json");
  assert.equal((await call(app, "POST", "/ingest/message?entity=Order", order)).status, 202);
  assert.equal((await call(app, "POST", "/ingest/message/Order", { ...order, order_key: 5 })).status, 422);
  assert.equal((await call(app, "POST", "/ingest/message/Order", "{nope")).status, 400);
  assert.equal(
    (await call(app, "POST", "/ingest/message/Order", "a=1", { "content-type": "text/html" })).status,
    415,
  );
  assert.equal((await call(app, "POST", "/ingest/message/Order", { pad: "x".repeat(5000) })).status, 413);
  assert.equal((await call(app, "POST", "/ingest/message?entity=Oder", order)).status, 404);
  const lines = `${JSON.stringify(order)}\n{nope\n${JSON.stringify({ ...order, order_key: 5 })}\n`;
  const batch = await call(app, "POST", "/ingest/batch/Order", lines, {
    "content-type": "application/x-ndjson",
  });
  assert.deepEqual([batch.status, batch.body.accepted, batch.body.rejected], [202, 1, 2]);
  const none = await call(app, "POST", "/ingest/batch/Order", "{nope\n", {
    "content-type": "application/x-ndjson",
  });
  assert.equal(none.status, 422);

  const repeat = await call(api({ seen: true }), "POST", "/ingest/message/Order", order, {
    "Idempotency-Key": "k1",
  });
  assert.deepEqual([repeat.status, repeat.body.duplicate], [200, true]);
  const down = api({ unavailable: true });
  assert.equal((await call(down, "POST", "/ingest/message/Order", order)).status, 503);
  const waiting = await call(down, "POST", "/ingest/batch/Order", JSON.stringify(order), {
    "content-type": "application/x-ndjson",
  });
  assert.equal(waiting.status, 503);
});

Deno.test("status, dead-letter and operations answers match the documented schemas", async () => {
  const app = api();
  assert.equal((await call(app, "GET", `/ingest/status/${KNOWN}`)).status, 200);
  assert.equal((await call(app, "GET", `/ingest/status/${UNKNOWN}`)).status, 404);
  assert.equal((await call(app, "GET", "/ingest/status/nope")).status, 400);
  const list = await call(app, "POST", "/ingest/status", { message_ids: [KNOWN, UNKNOWN] });
  assert.deepEqual((list.body.results as Json[]).map((r) => r.status), ["completed", "unknown"]);
  assert.equal((await call(app, "POST", "/ingest/status", { message_ids: "x" })).status, 422);
  assert.equal((await call(app, "POST", "/ingest/status", { message_ids: ["nope"] })).status, 400);

  assert.equal((await call(app, "GET", "/dlq?entity=Order&limit=10")).status, 200);
  assert.equal((await call(app, "GET", "/dlq?limit=0")).status, 400);
  assert.equal((await call(app, "GET", `/dlq/${KNOWN}`)).status, 200);
  assert.equal((await call(app, "GET", `/dlq/${UNKNOWN}`)).status, 404);
  assert.equal((await call(app, "POST", `/dlq/${KNOWN}/replay`)).status, 202);
  assert.equal((await call(app, "POST", `/dlq/${REPLAYED}/replay`)).status, 409);
  assert.equal((await call(app, "POST", "/dlq/replay", { entity: "Order" })).status, 200);
  assert.equal((await call(app, "POST", "/dlq/replay", { eror: "x" })).status, 400);
  assert.equal((await call(app, "DELETE", `/dlq/${KNOWN}`)).status, 200);
  assert.equal((await call(app, "DELETE", `/dlq/${UNKNOWN}`)).status, 404);

  for (const path of ["/", "/health", "/ready", "/metrics", "/stats", "/openapi.json", "/docs"]) {
    assert.equal((await call(app, "GET", path)).status, 200, path);
  }
  assert.equal((await call(api({ ready: false }), "GET", "/ready")).status, 503);
});

Deno.test("the response checker catches an answer the document does not describe", async () => {
  const extra = new Response(JSON.stringify({ ...completed, surprise: 1 }), {
    headers: { "content-type": "application/json" },
  });
  await assert.rejects(check("GET", `/ingest/status/${KNOWN}`, extra), /matches the documented schema/);
  const undocumented = new Response("{}", { status: 418, headers: { "content-type": "application/json" } });
  await assert.rejects(check("GET", `/ingest/status/${KNOWN}`, undocumented), /documents status 418/);
});
