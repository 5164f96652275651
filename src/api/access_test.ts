import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { silentLogger } from "../log.ts";
import { createMetrics } from "../observability/metrics.ts";
import { loadRegistry } from "../registry/load.ts";
import { ConfigError } from "../errors.ts";
import { ROUTE_ACCESS } from "./access.ts";
import { loadApiKeys, parseApiKeys } from "./api_keys.ts";
import { createApi } from "./app.ts";

const registry = await loadRegistry(
  new URL("../../tests/fixtures/nomnom-tpch/entities", import.meta.url).pathname,
);
const ID = "0193a0c0-5d1e-7c2a-9f00-3b6d2e8a4c17";
const KEYS = {
  ingest: "ingest-key-0123456789",
  read: "read-key-0123456789ab",
  dlq: "dlq-key-0123456789abc",
  order: "order-key-0123456789a",
};

function keysFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), "nomnom-keys-")), "keys.yaml");
  writeFileSync(file, text);
  return file;
}

const FILE = keysFile(`
- {name: ingester, key: ${KEYS.ingest}, scopes: [ingest]}
- {name: reader, key: ${KEYS.read}, scopes: [read]}
- {name: admin, key_sha256: ${(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(KEYS.dlq)).then(
  (d) => [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join(""),
))}, scopes: [dlq, read]}
- {name: orders, key: ${KEYS.order}, scopes: ["ingest:Order"]}
`);

function api(keys = loadApiKeys(FILE, registry, silentLogger, 60_000)) {
  const metrics = createMetrics("api", "test");
  const app = createApi({
    registry,
    publisher: { publish: () => Promise.resolve({ seq: 1, duplicate: false }) },
    statuses: { find: () => Promise.resolve(new Map()), bodySha256: () => Promise.resolve(undefined) },
    deadLetters: {
      list: () => Promise.resolve({ entries: [], next_cursor: null }),
      show: () => Promise.resolve(undefined),
      replay: () => Promise.resolve(undefined),
      replayMatching: () => Promise.resolve({ matched: 0, replayed: 0, failed: 0, errors: [] }),
      drop: () => Promise.resolve(false),
    },
    ops: { readiness: () => Promise.resolve([]), metrics, stats: () => Promise.resolve({}) },
    metrics,
    log: silentLogger,
    version: "test",
    limits: { messageBytes: 4096, batchBytes: 1 << 20 },
    keys,
  });
  return { app, keys };
}

const urlOf = (path: string) =>
  path.replace(":entity", "Order").replace(":message_id", ID) + (path === "/dlq/replay" ? "?all=true" : "");

function send(app: ReturnType<typeof api>["app"], method: string, path: string, key?: string) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (key) headers.authorization = `Bearer ${key}`;
  const body = method === "POST"
    ? (path === "/ingest/status" ? JSON.stringify({ ids: [ID] }) : "{}")
    : undefined;
  return app.request(urlOf(path), { method, headers, body });
}

Deno.test("every route of the access table: 401 without or with a wrong key, 403 without the scope, served with it", async () => {
  const { app, keys } = api();
  try {
    for (const { method, path, need } of ROUTE_ACCESS) {
      const label = `${method} ${path}`;
      const open = need === "public";
      for (const key of [undefined, "wrong-key-0123456789"]) {
        const response = await send(app, method, path, key);
        if (open) assert.notEqual(response.status, 401, label);
        else {
          assert.equal(response.status, 401, label);
          assert.match(response.headers.get("WWW-Authenticate") ?? "", /^Bearer/, label);
          assert.ok("error" in await response.json(), label);
        }
      }
      if (open) continue;
      const scope = need === "metrics" ? "read" : need;
      const without = scope === "read" ? KEYS.ingest : KEYS.read;
      const refused = await send(app, method, path, without);
      assert.equal(refused.status, 403, label);
      assert.match((await refused.json()).error, new RegExp(`lacks the scope ${scope}`), label);
      const right = { ingest: KEYS.ingest, read: KEYS.read, dlq: KEYS.dlq }[scope]!;
      const served = await send(app, method, path, right);
      assert.ok(![401, 403].includes(served.status) && served.status < 500, `${label}: ${served.status}`);
    }
  } finally {
    keys.stop();
  }
});

Deno.test("X-API-Key works too; ingest:Order may ingest Order by its path and nothing else", async () => {
  const { app, keys } = api();
  try {
    const headers = { "content-type": "application/json", "x-api-key": KEYS.order };
    const order = await app.request("/ingest/message/Order", { method: "POST", headers, body: "{}" });
    assert.ok(![401, 403].includes(order.status), String(order.status));
    const other = await app.request("/ingest/message/Customer", { method: "POST", headers, body: "{}" });
    assert.equal(other.status, 403);
    assert.match((await other.json()).error, /ingest or ingest:Customer/);
    const envelope = await app.request("/ingest/message", { method: "POST", headers, body: "{}" });
    assert.equal(envelope.status, 403);
  } finally {
    keys.stop();
  }
});

Deno.test("a state-changing request without a Content-Type is a 415; text/plain batches too", async () => {
  const { app, keys } = api();
  try {
    const auth = { authorization: `Bearer ${KEYS.dlq}` };
    for (const path of ["/ingest/message/Order", "/ingest/batch/Order", "/dlq/replay?all=true"]) {
      const key = path.startsWith("/dlq") ? KEYS.dlq : KEYS.ingest;
      const bare = await app.request(path, { method: "POST", headers: { authorization: `Bearer ${key}` } });
      assert.equal(bare.status, 415, path);
    }
    const plain = await app.request("/ingest/batch/Order", {
      method: "POST",
      headers: { ...auth, authorization: `Bearer ${KEYS.ingest}`, "content-type": "text/plain" },
      body: "{}",
    });
    assert.equal(plain.status, 415);
  } finally {
    keys.stop();
  }
});

Deno.test("parseApiKeys() names the file and the entry at fault", () => {
  const bad = (text: string, pattern: RegExp) =>
    assert.throws(
      () => parseApiKeys(text, "k.yaml", registry),
      (e: Error) => e instanceof ConfigError && pattern.test(e.message),
    );
  bad("[]", /k\.yaml.*non-empty list/);
  bad(`- {name: a, key: short, scopes: [read]}`, /entry 1 \("a"\).*at least 16/);
  bad(
    `- {name: a, key: 0123456789abcdefg, scopes: ["ingest:Oder"]}`,
    /entry 1 \("a"\).*ingest:Oder.*known: .*Order/,
  );
  bad(`- {name: a, key: 0123456789abcdefg, scopes: [write]}`, /unknown scope "write"/);
  bad(`- {name: a, key: 0123456789abcdefg, key_sha256: ab, scopes: [read]}`, /exactly one of/);
  bad(
    `- {name: a, key: 0123456789abcdefg, scopes: [read]}\n- {name: a, key: 0123456789abcdefh, scopes: [read]}`,
    /entry 2.*twice/,
  );
  const [key] = parseApiKeys(
    `[{"name": "j", "key": "0123456789abcdefg", "scopes": ["read"]}]`,
    "k.json",
    registry,
  );
  assert.equal(key.name, "j");
  assert.ok(!JSON.stringify(key).includes("0123456789abcdefg"));
});

Deno.test("a changed keys file takes effect without a restart; a broken one keeps the old keys", async () => {
  const file = keysFile(`- {name: old, key: old-key-0123456789ab, scopes: [read]}`);
  const errors: string[] = [];
  const log = {
    ...silentLogger,
    error: (msg: string, fields?: Record<string, unknown>) => errors.push(`${msg} ${JSON.stringify(fields)}`),
  };
  const keys = loadApiKeys(file, registry, log, 20);
  try {
    assert.equal(keys.find("old-key-0123456789ab")?.name, "old");
    writeFileSync(file, `- {name: new, key: new-key-0123456789ab, scopes: [read]}`);
    while (!keys.find("new-key-0123456789ab")) await new Promise((r) => setTimeout(r, 20));
    assert.equal(keys.find("old-key-0123456789ab"), undefined);
    writeFileSync(file, `- {name: broken}`);
    while (errors.length === 0) await new Promise((r) => setTimeout(r, 20));
    assert.match(errors[0], /keys\.yaml.*broken/);
    assert.equal(keys.find("new-key-0123456789ab")?.name, "new");
  } finally {
    keys.stop();
  }
});
