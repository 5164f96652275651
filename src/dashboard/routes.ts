/**
 * The dashboard's routes, mounted by the API at /dashboard:
 *   GET /dashboard                       the page (HTML; its script and style are embedded, no CDN)
 *   GET /dashboard/assets/dashboard.js   the page's script, bundled from src/dashboard/ui/ (deno task build:dashboard)
 *   GET /dashboard/assets/dashboard.css
 *   GET /dashboard/events                the live feed (Server-Sent Events; resumes with Last-Event-ID)
 *   GET /dashboard/api/entities          entities, tables, columns and derived entities (what the page lays out)
 *   GET /dashboard/api/rows/{entity}     a page of the latest rows (?before=, ?limit=, ?root_key=)
 *   GET /dashboard/api/sample/{entity}   a valid example message, the post form's starting point
 * The page does everything else through the API's own routes (/ingest, /ingest/status, /dlq), with the same
 * Authorization header: it sends `Authorization: Bearer <key>` from a field kept in sessionStorage (no
 * cookie), and reads the feed with fetch() streaming, which can send that header (EventSource cannot).
 */
import { Hono } from "hono";
import type { Sql } from "../db/connect.ts";
import { HttpError } from "../api/http_error.ts";
import { createSampleMessage } from "../registry/sample.ts";
import type { Entity, Registry } from "../registry/types.ts";
import script from "./assets/dashboard.bundle.js" with { type: "text" };
import style from "./ui/dashboard.css" with { type: "text" };
import type { Hub } from "./hub.ts";
import { descendantsOf, readRows, ROWS_PAGE, tableColumns } from "./rows.ts";

export type DashboardDeps = { hub: Hub; registry: Registry; sql: Sql; namespace: string; version: string };

// An empty icon: without one the browser asks for /favicon.ico, a 404 in the console of every page load.
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>nomnom dashboard</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/dashboard/assets/dashboard.css"></head>
<body><div id="app"></div><script type="module" src="/dashboard/assets/dashboard.js"></script></body></html>`;

/** Build the dashboard's sub-app. */
export function createDashboardRoutes(deps: DashboardDeps): Hono {
  const app = new Hono();
  const { registry } = deps;
  const entityOf = (name: string, check: (e: Entity) => boolean, what: string): Entity => {
    const entity = [...registry.entities.values()].find((e) => e.name.toLowerCase() === name.toLowerCase());
    if (!entity || !check(entity)) throw new HttpError(404, `no ${what} entity named "${name}"`);
    return entity;
  };
  // The page is small and changes with each release: revalidate it; the assets too (no fingerprint in their
  // names), which costs a 304 per load.
  app.get("/", (c) => c.html(PAGE, 200, { "Cache-Control": "no-cache" }));
  app.get(
    "/assets/dashboard.js",
    (c) => c.body(script as string, 200, { "Content-Type": "text/javascript", "Cache-Control": "no-cache" }),
  );
  app.get(
    "/assets/dashboard.css",
    (c) => c.body(style as string, 200, { "Content-Type": "text/css", "Cache-Control": "no-cache" }),
  );

  app.get("/events", (c) => {
    const stream = deps.hub.open(c.req.header("Last-Event-ID") ?? c.req.query("last_event_id"));
    return new Response(stream, {
      headers: {
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache, no-transform",
        // nginx buffers responses by default, which would hold events back.
        "X-Accel-Buffering": "no",
      },
    });
  });

  app.get("/api/entities", (c) =>
    c.json({
      namespace: deps.namespace,
      version: deps.version,
      entities: [...registry.entities.values()].map((e) => ({
        name: e.name,
        kind: e.kind,
        doc: e.doc ?? null,
        root: e.root,
        ingestible: e.kind !== "derived",
        table: e.storage?.table ?? null,
        columns: e.storage ? tableColumns(e) : [],
        key: e.storage?.key ?? [],
        derived: e.kind === "derived" ? [] : descendantsOf(registry, e).map((d) => d.name),
      })),
    }));

  app.get("/api/rows/:entity", async (c) => {
    const entity = entityOf(c.req.param("entity"), (e) => e.storage !== undefined, "stored");
    const q = c.req.query();
    if (q.before !== undefined && !/^\d{1,19}$/.test(q.before)) {
      throw new HttpError(400, '"before" must be a row id from "next_before"', { parameter: "before" });
    }
    const limit = q.limit === undefined ? undefined : Number(q.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > ROWS_PAGE.max)) {
      throw new HttpError(400, `"limit" must be a whole number from 1 to ${ROWS_PAGE.max}`, {
        parameter: "limit",
      });
    }
    if (q.root_key !== undefined && entity.kind !== "derived") {
      throw new HttpError(400, `"root_key" selects derived rows; ${entity.name} is not derived`, {
        parameter: "root_key",
      });
    }
    if (q.root_key?.includes("\0")) {
      throw new HttpError(400, '"root_key" must not contain a NUL character', { parameter: "root_key" });
    }
    return c.json(
      await readRows(deps.sql, registry, entity, { before: q.before, limit, rootKey: q.root_key }),
    );
  });

  app.get("/api/sample/:entity", (c) => {
    const entity = entityOf(c.req.param("entity"), (e) => e.kind !== "derived", "ingestible");
    return c.json(createSampleMessage(registry, entity));
  });
  return app;
}

/** A JSON answer; `component` names its schema in the API contract (src/api/contract.ts). */
const json = (description: string, component?: string) => ({
  description,
  content: {
    "application/json": {
      schema: component ? { $ref: `#/components/schemas/${component}` } : { type: "object" },
    },
  },
});
const err = {
  description: "Error",
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
};
const unavailable = {
  ...err,
  description: "PostgreSQL cannot be reached; retry after Retry-After seconds",
  headers: {
    "Retry-After": {
      description: "Seconds to wait before retrying",
      schema: { type: "integer", minimum: 1 },
    },
  },
};
const entityParam = { name: "entity", in: "path", required: true, schema: { type: "string" } };

/** The dashboard's paths for the OpenAPI document. */
export const DASHBOARD_OPENAPI_PATHS = {
  "/dashboard": {
    get: {
      summary: "The live dashboard (HTML)",
      operationId: "dashboard",
      responses: {
        "200": { description: "The page", content: { "text/html": { schema: { type: "string" } } } },
      },
    },
  },
  "/dashboard/assets/dashboard.js": {
    get: {
      summary: "Dashboard script",
      operationId: "dashboardJs",
      responses: {
        "200": { description: "JavaScript", content: { "text/javascript": { schema: { type: "string" } } } },
      },
    },
  },
  "/dashboard/assets/dashboard.css": {
    get: {
      summary: "Dashboard style",
      operationId: "dashboardCss",
      responses: { "200": { description: "CSS", content: { "text/css": { schema: { type: "string" } } } } },
    },
  },
  "/dashboard/events": {
    get: {
      summary: "Live figures as Server-Sent Events",
      description:
        "Events named after parts (overview, rates, messages, rows.<Entity>), each carrying the part's " +
        "newest JSON. Send Last-Event-ID to resume: only parts changed since are sent. A comment line comes " +
        "every 5 s when nothing else does. Ids of another process (restart, other replica) resend every part.",
      operationId: "dashboardEvents",
      parameters: [{ name: "Last-Event-ID", in: "header", required: false, schema: { type: "string" } }],
      responses: {
        "200": {
          description: "An event stream",
          content: { "text/event-stream": { schema: { type: "string" } } },
        },
      },
    },
  },
  "/dashboard/api/entities": {
    get: {
      summary: "Entities and tables the dashboard shows",
      operationId: "dashboardEntities",
      responses: { "200": json("Entities", "DashboardEntities") },
    },
  },
  "/dashboard/api/rows/{entity}": {
    get: {
      summary: "Latest rows of an entity's table, values as PostgreSQL's text",
      operationId: "dashboardRows",
      parameters: [
        entityParam,
        {
          name: "before",
          in: "query",
          required: false,
          schema: { type: "string", pattern: "^[0-9]{1,19}$" },
        },
        {
          name: "limit",
          in: "query",
          required: false,
          schema: { type: "integer", minimum: 1, maximum: ROWS_PAGE.max },
        },
        { name: "root_key", in: "query", required: false, schema: { type: "string" } },
      ],
      responses: {
        "200": json("A page of rows", "DashboardRows"),
        "400": err,
        "404": err,
        "503": unavailable,
      },
    },
  },
  "/dashboard/api/sample/{entity}": {
    get: {
      summary: "An example message of an entity",
      operationId: "dashboardSample",
      parameters: [entityParam],
      responses: { "200": json("A message that passes validation"), "404": err },
    },
  },
};
