/**
 * The API's Hono app: ingest, status, dead letters, operations and docs. Built from its dependencies only (no
 * I/O here), so tests can drive it with `app.request()`. Cross-cutting concerns live here once: request ids,
 * metrics, CORS, API keys, content types, rate limits, body limits, and the mapping of errors to answers.
 */
import { Hono } from "hono";
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { requestId, type RequestIdVariables } from "hono/request-id";
import { v7 as uuidv7 } from "uuid";
import type { DeadLetters } from "../lifecycle/dead_letters.ts";
import type { StatusFinder } from "../lifecycle/status.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { Registry } from "../registry/types.ts";
import type { Publisher } from "../stream/publish.ts";
import { accessFor, requireScopes } from "./access.ts";
import type { ApiKeys } from "./api_keys.ts";
import { type CorsSettings, createCors } from "./cors.ts";
import { createDlqRoutes } from "./dlq.ts";
import { answerFor, bodyReadError, errorResponse, HttpError } from "./http_error.ts";
import { createIngestRoutes } from "./ingest.ts";
import { createDocsRoutes } from "./docs.ts";
import { createOpenApiDocument } from "./openapi.ts";
import { createOpsRoutes, type OpsDeps } from "./ops.ts";
import { createOutageLog } from "./outage_log.ts";
import { createRateLimit, type RateLimitSettings } from "./rate_limit.ts";
import { createStatusRoutes } from "./status.ts";

export type { Check } from "./ops.ts";

export type ApiDeps = {
  registry: Registry;
  publisher: Publisher;
  statuses: StatusFinder;
  deadLetters: DeadLetters;
  ops: OpsDeps;
  metrics: Metrics;
  log: Logger;
  version: string;
  limits: { messageBytes: number; batchBytes: number };
  /** API keys in force; undefined: every route is open (as before keys existed). */
  keys?: ApiKeys;
  /** With keys: whether /metrics answers without one. */
  metricsPublic?: boolean;
  /** The dashboard's routes (src/dashboard/routes.ts), mounted at /dashboard. */
  dashboard?: Hono;
  /** --cors-*: unset origins, no CORS (the default). */
  cors?: CorsSettings;
  /** --rate-limit*: unset rate, no limit (the default). */
  rateLimit?: RateLimitSettings;
  /** The clock of the rate limit's buckets (tests pass their own). */
  now?: () => number;
};

const JSON_TYPES = /^application\/(json|[\w.+-]+\+json)$/;
// No text/plain: it is a CORS "simple" type, so a cross-site page could post a batch without a preflight.
const NDJSON_TYPES = /^application\/(x-ndjson|ndjson|jsonl|x-jsonlines|json)$/;
/** The methods of the routes that change state (every other route is GET). */
const STATE_CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const BATCH_PATH = /^\/ingest\/batch(\/[^/]+)?\/?$/;

/** Build the HTTP app. */
export function createApi(deps: ApiDeps): Hono {
  const app = new Hono<{ Variables: RequestIdVariables }>();
  const { metrics, log } = deps;

  // A client's X-Request-Id is echoed back if it is a sane token (Hono: word characters, "-" and "="), else a
  // UUIDv7 is made, which sorts by time in the logs.
  app.use(requestId({ limitLength: 128, generator: () => uuidv7() }));
  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    const route = c.req.routePath === "/*" ? "unmatched" : c.req.routePath;
    const labels = { route, method: c.req.method };
    metrics.httpRequests.inc({ ...labels, status: String(c.res.status) });
    metrics.httpSeconds.observe(labels, (performance.now() - started) / 1000);
  });
  const outages = createOutageLog(log);
  app.onError((error, c) => {
    const response = errorResponse(error, c);
    // A 503 is a dependency away: logged once per outage, not once per request.
    const away = answerFor(error).unavailable;
    if (away) outages.refused(away, error);
    else if (response.status >= 500) {
      log.error("request failed", {
        request_id: c.get("requestId"),
        path: c.req.path,
        status: response.status,
        error,
      });
    }
    return response;
  });
  // Before the key check: a preflight carries no key, and a 401 or 429 must be readable by an allowed page.
  const cors = deps.cors && createCors(deps.cors);
  if (cors) app.use(cors);
  if (deps.keys) app.use(requireScopes(deps.keys, { metricsPublic: deps.metricsPublic ?? false }));
  // One rule for every route that changes state (POST, DELETE), whether it reads a body or not: it must name
  // a JSON type (batches: NDJSON). Without one it would be a CORS "simple" request, which a cross-site page
  // can send without a preflight: no Content-Type, text/plain, or a form type are all a 415.
  app.use(async (c, next) => {
    if (!STATE_CHANGING.has(c.req.method) || !accessFor(c.req.method, c.req.path)) return await next();
    const batch = BATCH_PATH.test(c.req.path);
    const [allowed, expected] = batch
      ? [NDJSON_TYPES, "application/x-ndjson"]
      : [JSON_TYPES, "application/json"];
    const type = c.req.header("Content-Type")?.split(";")[0].trim().toLowerCase();
    if (!type) throw new HttpError(415, `Content-Type is missing: send ${expected}`);
    if (!allowed.test(type)) {
      throw new HttpError(415, `Content-Type ${type} is not accepted here: send ${expected}`);
    }
    await next();
  });
  // After the key check (limits count by key name), before any body is read.
  const rateLimit = deps.rateLimit && createRateLimit(deps.rateLimit, metrics, deps.now);
  if (rateLimit) app.use(rateLimit.middleware);
  app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}`, details: null }, 404));

  const limit = (maxSize: number): MiddlewareHandler => {
    const refuse = (): never => {
      throw new HttpError(413, `request body larger than ${maxSize} bytes`);
    };
    const check = bodyLimit({ maxSize, onError: refuse });
    return async (c, next) => {
      // A declared length is checked from the header alone, as bodyLimit would, without its `c.req.raw.body`:
      // Deno makes a ReadableStream for that getter, which the body is then read through (measured: about a
      // quarter of the API's own CPU per single POST, bench/api_cost.ts). The runtime never hands over more
      // bytes than a Content-Length says.
      const length = c.req.header("Content-Length");
      if (length !== undefined && !c.req.header("Transfer-Encoding")) {
        if (Number(length) > maxSize) refuse();
        return await next();
      }
      // Without a Content-Length, bodyLimit reads the body itself: a client that aborts it there gets a 400.
      let reading = true;
      try {
        await check(c, () => (reading = false, next()));
      } catch (error) {
        throw reading ? bodyReadError(error) : error;
      }
    };
  };
  for (const path of ["/ingest/message", "/ingest/message/*", "/ingest/status", "/dlq/replay"]) {
    app.post(path, limit(deps.limits.messageBytes));
  }
  for (const path of ["/ingest/batch", "/ingest/batch/*"]) app.post(path, limit(deps.limits.batchBytes));

  app.post("/ingest/status", async (c, next) => {
    await c.req.arrayBuffer().catch((error) => Promise.reject(bodyReadError(error)));
    await next();
  });
  app.route("/ingest/status", createStatusRoutes(deps.statuses));
  app.route(
    "/ingest",
    createIngestRoutes({
      registry: deps.registry,
      publisher: deps.publisher,
      statuses: deps.statuses,
      log: deps.log,
      messageBytes: deps.limits.messageBytes,
      admit: rateLimit?.admit,
    }),
  );
  app.route("/dlq", createDlqRoutes(deps.deadLetters));
  if (deps.dashboard) app.route("/dashboard", deps.dashboard);
  // Where a person who opens the bare URL can go next (it answered 404).
  app.get("/", (c) =>
    c.json({
      name: "nomnom",
      version: deps.version,
      links: {
        docs: "/docs",
        openapi: "/openapi.json",
        ...(deps.dashboard ? { dashboard: "/dashboard" } : {}),
        ingest: "/ingest/message/{entity}",
        batch: "/ingest/batch/{entity}",
        status: "/ingest/status/{message_id}",
        dlq: "/dlq",
        health: "/health",
        ready: "/ready",
        stats: "/stats",
        metrics: "/metrics",
      },
    }));
  app.route("/", createOpsRoutes(deps.ops));
  app.route(
    "/",
    createDocsRoutes(
      createOpenApiDocument(deps.registry, deps.version, { metricsPublic: deps.metricsPublic }),
    ),
  );
  return app as unknown as Hono;
}
