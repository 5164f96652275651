import assert from "node:assert/strict";
import SwaggerParser from "@apidevtools/swagger-parser";
import { loadRegistry } from "../registry/load.ts";
import { createSampleMessage } from "../registry/sample.ts";
import { SWAGGER_ASSETS } from "./docs.ts";
import { accessFor } from "./access.ts";
import { createOpenApiDocument } from "./openapi.ts";
import { createOfflineApi } from "./offline_api.ts";

type Json = Record<string, unknown>;

const registry = await loadRegistry(
  new URL("../../tests/fixtures/nomnom-tpch/entities", import.meta.url).pathname,
);

const api = () => createOfflineApi(registry, "1.2.3").app;

Deno.test("the OpenAPI document is valid OpenAPI 3.1 with one request schema per entity", async () => {
  const app = api();
  const document = await (await app.request("/openapi.json")).json();
  assert.equal(document.openapi, "3.1.0");
  await SwaggerParser.validate(structuredClone(document));
  for (const e of registry.ingestible) {
    assert.ok(document.components.schemas[e.name], `${e.name} has a schema`);
    assert.deepEqual(
      [...document.components.schemas[e.name].required].sort(),
      e.fields.filter((f) => !f.nullable).map((f) => f.name).sort(),
    );
  }
  assert.deepEqual(await (await app.request("/api-docs/openapi.json")).json(), document);
});

Deno.test("every route the API answers is in the OpenAPI document, each entity's ingest routes with their own path", async () => {
  const app = api();
  const document = await (await app.request("/openapi.json")).json();
  const documented = new Set(
    Object.entries(document.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`)),
  );
  const served = app.routes
    .filter((r) => r.method !== "ALL" && !r.path.includes("*") && !SWAGGER_ASSETS.includes(r.path))
    .flatMap((r) => {
      const route = `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`;
      // /ingest/message/{entity} is documented once per entity, with that entity's schema and example.
      return route.startsWith("POST /ingest/") && route.includes("{entity}")
        ? registry.ingestible.map((e) => route.replace("{entity}", e.name))
        : [route];
    });
  assert.ok(served.length > 15);
  for (const route of new Set(served)) assert.ok(documented.has(route), `${route} is documented`);
  for (const asset of SWAGGER_ASSETS) {
    assert.ok(app.routes.some((r) => r.path === asset), `${asset} is served`);
    assert.ok(!document.paths[asset], `${asset} is Swagger UI's, not an operation`);
  }
  assert.ok(
    !Object.keys(document.paths).some((path) => path.startsWith("/ingest/") && path.includes("{entity}")),
  );
});

Deno.test("the 202 example is a fresh acceptance and each entity's path carries its own example", async () => {
  const document = await (await api().request("/openapi.json")).json();
  for (const e of registry.ingestible) {
    const post = document.paths[`/ingest/message/${e.name}`].post;
    const accepted = post.responses["202"].content["application/json"].example;
    assert.equal(accepted.entity, e.name);
    assert.equal(accepted.status, "accepted");
    assert.equal(accepted.duplicate, undefined, "a 202 is never a duplicate");
    assert.deepEqual(post.requestBody.content["application/json"].example, createSampleMessage(registry, e));
  }
});

Deno.test("Swagger UI is served with local assets only (works offline)", async () => {
  const app = api();
  for (const path of ["/docs", "/swagger-ui"]) {
    const html = await (await app.request(path)).text();
    assert.match(html, /swagger-ui-bundle\.js/);
    assert.doesNotMatch(html, /https?:\/\//, "no CDN");
  }
  const js = await app.request("/docs/assets/swagger-ui-bundle.js");
  assert.equal(js.status, 200);
  assert.ok((await js.text()).length > 100_000);
});

Deno.test("requests get a request id, echoed back; wrong content types are 415 as JSON", async () => {
  const app = api();
  const echoed = await app.request("/health", { headers: { "X-Request-Id": "abc-123" } });
  assert.equal(echoed.headers.get("x-request-id"), "abc-123");
  assert.ok((await app.request("/health")).headers.get("x-request-id"));
  const form = await app.request("/ingest/message/Order", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "a=1",
  });
  assert.equal(form.status, 415);
  assert.match((await form.json()).error, /application\/json/);
  assert.ok(form.headers.get("x-request-id"), "error answers carry a request id too");
  const unsafe = await app.request("/health", { headers: { "X-Request-Id": "<script>" } });
  assert.notEqual(unsafe.headers.get("x-request-id"), "<script>", "not echoed: a new id is made");
});

Deno.test("the OpenAPI document uses anyOf, never oneOf, and every 503 documents Retry-After", async () => {
  const document = await (await api().request("/openapi.json")).json();
  assert.doesNotMatch(JSON.stringify(document), /"oneOf"/);
  let unavailable = 0;
  for (const [path, operations] of Object.entries(document.paths as Record<string, Record<string, Json>>)) {
    for (const [method, operation] of Object.entries(operations)) {
      const response = (operation.responses as Record<string, Json>)["503"];
      if (!response || path === "/ready" || path === "/health") continue;
      unavailable++;
      assert.ok(
        (response.headers as Json | undefined)?.["Retry-After"],
        `${method} ${path} 503 has Retry-After`,
      );
    }
  }
  assert.ok(unavailable >= 10);
});

Deno.test("security comes from ROUTE_ACCESS: public routes have security [], the others their scope, 401 and 403", async () => {
  const document = await (await api().request("/openapi.json")).json();
  assert.deepEqual(Object.keys(document.components.securitySchemes).sort(), ["apiKeyAuth", "bearerAuth"]);
  assert.equal(document.components.securitySchemes.apiKeyAuth.name, "X-API-Key");
  const scopesOf = (
    operation: Json,
  ) => [
    ...new Set((operation.security as Record<string, string[]>[]).flatMap((r) => Object.values(r).flat())),
  ];
  for (const [path, operations] of Object.entries(document.paths as Record<string, Record<string, Json>>)) {
    for (const [method, operation] of Object.entries(operations)) {
      const label = `${method} ${path}`;
      const found = accessFor(method.toUpperCase(), path.replace(/\{\w+\}/g, "x"));
      assert.ok(found, `${label} has an access row`);
      const need = found.row.need === "metrics" ? "read" : found.row.need;
      if (need === "public") {
        assert.deepEqual(operation.security, [], label);
        assert.equal((operation.responses as Json)["401"], undefined, label);
        continue;
      }
      const expected = need === "ingest" && found.entity ? ["ingest", `ingest:${found.entity}`] : [need];
      assert.deepEqual(scopesOf(operation), expected, label);
      assert.ok((operation.responses as Json)["401"] && (operation.responses as Json)["403"], label);
    }
  }
  assert.deepEqual(scopesOf(document.paths["/dlq/{message_id}/replay"].post), ["dlq"]);
  assert.deepEqual(scopesOf(document.paths["/ingest/message/Order"].post), ["ingest", "ingest:Order"]);
  assert.deepEqual(document.paths["/health"].get.security, []);
  const open = createOpenApiDocument(registry, "1", { metricsPublic: true });
  assert.deepEqual((open.paths as Record<string, Record<string, Json>>)["/metrics"].get.security, []);
});

Deno.test("Swagger UI offers Authorize and does not keep the key (persistAuthorization off, no cookie)", async () => {
  const app = api();
  const init = await (await app.request("/docs/assets/init.js")).text();
  assert.match(init, /persistAuthorization: false/);
  const page = await app.request("/docs");
  assert.equal(page.headers.get("set-cookie"), null);
});
