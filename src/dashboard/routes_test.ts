import assert from "node:assert/strict";
import { Hono } from "hono";
import { errorResponse } from "../api/http_error.ts";
import { DashboardEntities } from "../api/contract.ts";
import type { Sql } from "../db/connect.ts";
import { silentLogger } from "../log.ts";
import { loadRegistry } from "../registry/load.ts";
import { createHub } from "./hub.ts";
import { createDashboardRoutes } from "./routes.ts";

const registry = await loadRegistry(new URL("../../entities", import.meta.url).pathname);

function routes(parts: Record<string, unknown>) {
  const hub = createHub({
    read: () => Promise.resolve({ ...parts }),
    log: silentLogger,
    intervalMs: 10,
    epoch: "p1",
  });
  // Errors are answered by the API's one mapping, as when createApi() mounts these routes.
  const app = new Hono().onError(errorResponse)
    .route("/", createDashboardRoutes({ hub, registry, sql: {} as Sql, namespace: "t", version: "0" }));
  return { hub, app };
}

/** The event names and ids of an SSE response, read until `count` events arrived. */
async function events(response: Response, count: number): Promise<{ id: string; event: string }[]> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const found = () =>
    [...text.matchAll(/id: (\S+)\nevent: (\S+)\n/g)].map((m) => ({ id: m[1], event: m[2] }));
  while (found().length < count) text += decoder.decode((await reader.read()).value, { stream: true });
  await reader.cancel();
  return found();
}

Deno.test("GET /events resumes from the Last-Event-ID header: only the parts changed since come", async () => {
  const parts: Record<string, unknown> = { overview: 1, messages: 1 };
  const { hub, app } = routes(parts);
  try {
    const first = await app.request("/events");
    assert.match(first.headers.get("content-type")!, /^text\/event-stream/);
    const seen = await events(first, 2);
    const keep = hub.open(); // keeps the poller running between the two requests
    parts.messages = 2;
    const before = hub.polls();
    while (hub.polls() < before + 2) await new Promise((r) => setTimeout(r, 5));
    const resumed = await app.request("/events", { headers: { "Last-Event-ID": seen.at(-1)!.id } });
    assert.deepEqual((await events(resumed, 1)).map((e) => e.event), ["messages"]);
    await keep.cancel();
  } finally {
    hub.close();
  }
});

Deno.test("the page loads nothing from elsewhere, and the sample route gives each ingestible entity's example", async () => {
  const { hub, app } = routes({});
  try {
    const html = await (await app.request("/")).text();
    assert.doesNotMatch(html, /https?:\/\//, "no CDN: it works offline");
    assert.match(html, /<link rel="icon" href="data:,">/, "no request for /favicon.ico (a 404)");
    for (const path of ["/assets/dashboard.js", "/assets/dashboard.css"]) {
      const r = await app.request(path);
      assert.equal(r.status, 200, path);
      assert.doesNotMatch(
        await r.text(),
        /https?:\/\/(?!www\.w3\.org\/2000\/svg)/,
        `${path} fetches nothing`,
      );
    }
    for (const e of registry.ingestible) {
      const sample = await (await app.request(`/api/sample/${e.name.toLowerCase()}`)).json();
      assert.ok(e.messageSchema!.safeParse(sample).success, `${e.name}'s sample passes its validation`);
    }
    assert.equal(
      (await app.request("/api/sample/OrderLineItem")).status,
      404,
      "a derived entity is not posted",
    );
    const entities = await (await app.request("/api/entities")).json();
    assert.ok(DashboardEntities.strict().safeParse(entities).success, "the answer is the contract's");
    const order = entities.entities.find((e: { name: string }) => e.name === "Order");
    assert.deepEqual(order.derived, ["OrderLineItem"]);
  } finally {
    hub.close();
  }
});
