/**
 * API keys against live roles: every route of the access table (src/api/access.ts `ROUTE_ACCESS`) walked with
 * no key, a wrong key, a key without the scope and the right key, on the API and on the worker's ops port; the
 * table itself checked against the routes the apps really serve, so a new route cannot be left out of it (or
 * out of this walk). Then real dead letters (23505, 23502, 23514) whose row values a `read` key must not see
 * anywhere, while the `dlq` key sees the whole error, and no log line shows them.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { accessFor, ROUTE_ACCESS, type RouteAccess } from "../src/api/access.ts";
import { createOfflineApi } from "../src/api/offline_api.ts";
import { SWAGGER_ASSETS } from "../src/api/docs.ts";
import { createOpsRoutes } from "../src/api/ops.ts";
import { createLogger } from "../src/log.ts";
import { createTempDir, createTestEnv, request, TPCH, waitForStatus } from "./harness.ts";

const ORDER = JSON.parse(await readFile(TPCH + "example_order.json", "utf8"));
const KEYS = {
  ingest: "ingest-key-0123456789",
  read: "read-key-0123456789ab",
  dlq: "dlq-key-0123456789abc",
};

async function keysFile(dir: string): Promise<string> {
  const file = join(dir, "keys.yaml");
  await writeFile(
    file,
    `- {name: ingester, key: ${KEYS.ingest}, scopes: [ingest]}
- {name: reader, key: ${KEYS.read}, scopes: [read]}
- {name: admin, key: ${KEYS.dlq}, scopes: [read, dlq]}
`,
  );
  return file;
}

/** Every route the API app and the ops app serve, as `METHOD /path` (Hono's own list of what it routes). */
async function servedRoutes(): Promise<{ api: Set<string>; ops: Set<string> }> {
  const { loadRegistry } = await import("../src/registry/load.ts");
  const registry = await loadRegistry(TPCH + "entities");
  const { app, ops } = createOfflineApi(registry);
  const list = (routes: { method: string; path: string }[]) =>
    new Set(
      routes.filter((r) => r.method !== "ALL" && !r.path.includes("*")).map((r) => `${r.method} ${r.path}`),
    );
  return { api: list(app.routes), ops: list(createOpsRoutes(ops).routes) };
}

/** The request that exercises a row: its URL path and body. */
function requestFor(row: RouteAccess, id: string): { path: string; init: RequestInit } {
  const path = row.path.replace(":entity", "Order").replace(":message_id", id) +
    ({ "/ingest/message": "?entity=Order", "/ingest/batch": "?entity=Order" }[row.path] ?? "");
  if (row.method !== "POST") return { path, init: { method: row.method } };
  const order = JSON.stringify({ ...ORDER, order_key: `O-walk-${crypto.randomUUID()}` });
  if (row.path.startsWith("/ingest/batch")) {
    return {
      path,
      init: { method: "POST", headers: { "content-type": "application/x-ndjson" }, body: `${order}\n` },
    };
  }
  const body = row.path === "/ingest/status"
    ? JSON.stringify({ message_ids: [id] })
    : row.path === "/dlq/replay"
    ? JSON.stringify({ entity: "Order" })
    : row.path.startsWith("/dlq/")
    ? undefined
    : order;
  return { path, init: { method: "POST", headers: { "content-type": "application/json" }, body } };
}

/** Status, headers and body of an answer; an event stream is cut after its headers (it never ends). */
async function hit(url: string, init: RequestInit, key?: string) {
  const headers = new Headers(init.headers);
  if (key !== undefined) headers.set("authorization", `Bearer ${key}`);
  const response = await fetch(url, { ...init, headers });
  if (response.headers.get("content-type")?.startsWith("text/event-stream")) {
    await response.body?.cancel();
    return { status: response.status, headers: response.headers, body: undefined };
  }
  const text = await response.text();
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(text);
  } catch { /* not JSON */ }
  return { status: response.status, headers: response.headers, body };
}

/** The key a row needs, and one that is valid but lacks that scope. */
function keysFor(need: "read" | "dlq" | "ingest"): { right: string; without: string } {
  return {
    read: { right: KEYS.read, without: KEYS.ingest },
    dlq: { right: KEYS.dlq, without: KEYS.read },
    ingest: { right: KEYS.ingest, without: KEYS.read },
  }[need];
}

Deno.test("the access table covers every route the API and the ops port serve", async () => {
  const { api, ops } = await servedRoutes();
  const table = new Set(ROUTE_ACCESS.map((r) => `${r.method} ${r.path}`));
  assert.ok(api.size > 20, `the API serves ${api.size} routes`);
  for (const route of [...api, ...ops]) assert.ok(table.has(route), `${route} has a row in ROUTE_ACCESS`);
  for (const route of table) assert.ok(api.has(route), `${route} of ROUTE_ACCESS is served by the API`);
  for (const asset of SWAGGER_ASSETS) assert.ok(table.has(`GET ${asset}`));
});

Deno.test({
  name: "every route, live on the API and on the worker's ops port: 401 without or with a wrong key, 403 " +
    "without the scope, served with it; public routes open; /metrics open only with --metrics-public",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using dir = await createTempDir();
    const file = await keysFile(dir.path);
    await using env = await createTestEnv({ flags: [`--api-keys-file=${file}`] });
    const worker = await env.start("worker");
    const api = await env.start("api");
    const opsUrl = `http://127.0.0.1:${worker.runtime.opsServer!.port}`;
    const { ops: opsRoutes } = await servedRoutes();

    const accepted = await request(`${api.url}/ingest/message/Order`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEYS.ingest}` },
      body: JSON.stringify(ORDER),
    });
    assert.equal(accepted.status, 202, accepted.text);
    const id = accepted.body.message_id as string;
    await waitForStatus(env.sql, id, "completed");

    const walked = new Set<string>();
    for (const [target, base] of [["api", api.url], ["ops", opsUrl]] as const) {
      for (const row of ROUTE_ACCESS) {
        const route = `${row.method} ${row.path}`;
        const label = `${target}: ${route}`;
        const served = target === "api" || opsRoutes.has(route);
        const { path, init } = requestFor(row, id);
        const url = base + path;
        if (row.need === "public") {
          const open = await hit(url, init);
          assert.equal(open.status, served ? 200 : 404, label);
          walked.add(`${target} ${route}`);
          continue;
        }
        for (const key of [undefined, "wrong-key-0123456789"]) {
          const refused = await hit(url, init, key);
          assert.equal(refused.status, 401, `${label} with ${key ?? "no key"}`);
          assert.match(refused.headers.get("www-authenticate") ?? "", /^Bearer/, label);
          assert.equal(typeof refused.body?.error, "string", label);
        }
        const { right, without } = keysFor(row.need === "metrics" ? "read" : row.need);
        const forbidden = await hit(url, init, without);
        assert.equal(forbidden.status, 403, label);
        assert.match(String(forbidden.body?.error), /lacks the scope/, label);
        const answered = await hit(url, init, right);
        if (!served) assert.equal(answered.status, 404, label);
        else {
          assert.ok(
            answered.status < 500 && ![401, 403, 404].includes(answered.status) ||
              (answered.status === 404 && row.path.startsWith("/dlq/:message_id")) ||
              (answered.status === 409 && row.path.startsWith("/dlq/:message_id")),
            `${label} with the right key: ${answered.status} ${JSON.stringify(answered.body)}`,
          );
        }
        walked.add(`${target} ${route}`);
      }
    }
    assert.equal(walked.size, 2 * ROUTE_ACCESS.length, "every row walked on both ports");
    // A row the walk could not tell apart from another would hide a route: each path resolves to its own row.
    for (const row of ROUTE_ACCESS) {
      const found = accessFor(row.method, requestFor(row, id).path.split("?")[0])?.row;
      assert.deepEqual([found?.method, found?.path], [row.method, row.path]);
    }

    // --metrics-public: /metrics needs no key on either port; /stats still does.
    const openWorker = await env.start("worker", ["--metrics-public=true"]);
    const openApi = await env.start("api", ["--metrics-public=true"]);
    for (const base of [openApi.url, `http://127.0.0.1:${openWorker.runtime.opsServer!.port}`]) {
      assert.equal((await hit(`${base}/metrics`, {})).status, 200, base);
      assert.equal((await hit(`${base}/stats`, {})).status, 401, base);
    }
  },
});

Deno.test({
  name: "real 23505, 23502 and 23514 dead letters: a read key sees no row value anywhere, the dlq key (and " +
    "everyone without keys) the whole error, and no log line shows one",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using dir = await createTempDir();
    const file = await keysFile(dir.path);
    const lines: string[] = [];
    await using env = await createTestEnv({ log: createLogger("debug", {}, (line) => lines.push(line)) });
    await env.migrate();
    await env.sql.unsafe(`
      CREATE UNIQUE INDEX orders_clerk_unique ON orders (clerk);
      ALTER TABLE orders ADD CONSTRAINT orders_price_cap CHECK (total_price < 100000);
      CREATE FUNCTION orders_lose_clerk() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        IF NEW.order_key = 'O-NULL' THEN NEW.order_status := NULL; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER orders_lose_clerk BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION orders_lose_clerk();`);
    const all = await env.start("all", [`--api-keys-file=${file}`]);
    const open = await env.start("api"); // no keys: everyone is the admin
    const ingest = async (order: Record<string, unknown>) => {
      const r = await request(`${all.url}/ingest/message/Order`, {
        method: "POST",
        headers: { authorization: `Bearer ${KEYS.ingest}` },
        body: JSON.stringify({ ...ORDER, ...order }),
      });
      assert.equal(r.status, 202, r.text);
      return r.body.message_id as string;
    };
    const first = await ingest({ order_key: "O-1", clerk: "Clerk#SECRET-CLERK" });
    await waitForStatus(env.sql, first, "completed");
    const ids = {
      "23505": await ingest({ order_key: "O-2", clerk: "Clerk#SECRET-CLERK", comment: "SECRET-23505" }),
      "23502": await ingest({ order_key: "O-NULL", clerk: "Clerk#SECRET-NULL", comment: "SECRET-23502" }),
      "23514": await ingest({
        order_key: "O-3",
        clerk: "Clerk#3",
        total_price: 999999,
        comment: "SECRET-23514",
      }),
    };
    await waitForStatus(env.sql, Object.values(ids), "dlq");

    const as = async (key: string | undefined, path: string, init: RequestInit = {}) => {
      const r = await request(`${key ? all.url : open.url}${path}`, {
        ...init,
        headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...init.headers },
      });
      assert.equal(r.status, 200, `${path}: ${r.text}`);
      return r;
    };
    const constraint = {
      "23505": /orders_clerk_unique/,
      "23502": /"order_status"/,
      "23514": /orders_price_cap/,
    };
    for (const [code, id] of Object.entries(ids) as [keyof typeof ids, string][]) {
      const read = await as(KEYS.read, `/ingest/status/${id}`);
      assert.match(read.body.error, new RegExp(`\\[${code}\\]`));
      assert.match(read.body.error, constraint[code]);
      assert.doesNotMatch(read.text, /SECRET/, `status of ${code} for a read key`);
      const shown = await as(KEYS.read, `/dlq/${id}`);
      assert.doesNotMatch(shown.text, /SECRET/);
      assert.equal(shown.body.message_hidden, true);
      assert.equal(shown.body.message, undefined);
      for (const key of [KEYS.dlq, undefined]) {
        const admin = await as(key, `/dlq/${id}`);
        assert.match(
          admin.body.error,
          /SECRET/,
          `the ${key ? "dlq key" : "open API"} sees the ${code} values`,
        );
        assert.equal(
          admin.body.message.order_key,
          code === "23502" ? "O-NULL" : admin.body.message.order_key,
        );
        assert.match((await as(key, `/ingest/status/${id}`)).body.error, /SECRET/);
      }
    }
    const statuses = await as(KEYS.read, "/ingest/status", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message_ids: Object.values(ids) }),
    });
    assert.doesNotMatch(statuses.text, /SECRET/);
    const list = await as(KEYS.read, "/dlq?entity=Order");
    assert.equal(list.body.entries.length, 3);
    assert.doesNotMatch(list.text, /SECRET/);
    // A value cannot be found by guessing it in the error filter; text the reader is shown can.
    assert.deepEqual((await as(KEYS.read, "/dlq?error=SECRET")).body.entries, []);
    assert.equal((await as(KEYS.read, "/dlq?error=orders_price_cap")).body.entries.length, 1);
    assert.equal((await as(KEYS.dlq, "/dlq?error=SECRET")).body.entries.length, 3);
    assert.doesNotMatch((await as(KEYS.read, "/stats")).text, /SECRET/);

    // The dashboard's feed (one for every page) carries the recent messages without their values.
    const feed = await fetch(`${all.url}/dashboard/events`, {
      headers: { authorization: `Bearer ${KEYS.read}` },
    });
    const reader = feed.body!.pipeThrough(new TextDecoderStream()).getReader();
    let events = "";
    while (!/event: messages\ndata: .*23514/.test(events)) events += (await reader.read()).value ?? "";
    await reader.cancel();
    // (The rows part shows the order that was stored, with its clerk: table data is what `read` is for.)
    const messages = [...events.matchAll(/event: messages\ndata: (.*)/g)].at(-1)![1];
    assert.match(messages, /23505/);
    assert.doesNotMatch(messages, /SECRET/);

    const logged = lines.join("\n");
    assert.match(logged, /dead-lettered.*23505/, "the dead letters are logged");
    assert.doesNotMatch(logged, /SECRET/, "without their values");
  },
});
