/**
 * Who may call what: the one table from route to the scope it needs, used by the access middleware here (and
 * by the route walk in tests/access_test.ts, so a new route cannot be forgotten). `public` routes answer
 * without a key: probes, and the static pages and scripts that ask the user for a key.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { ApiKeys } from "./api_keys.ts";
import { HttpError } from "./http_error.ts";
import { SWAGGER_ASSETS } from "./docs.ts";

/** What a route needs: no key, a key with one of these scopes, or (`metrics`) what --metrics-public says. */
export type Need = "public" | "metrics" | "read" | "dlq" | "ingest";

/** One row: method, Hono-style path (`:param`), the scope. */
export type RouteAccess = { method: "GET" | "POST" | "DELETE"; path: string; need: Need };

/** Every route the API and the worker's ops port serve, with the scope it needs. */
export const ROUTE_ACCESS: readonly RouteAccess[] = [
  { method: "GET", path: "/", need: "public" },
  { method: "GET", path: "/health", need: "public" },
  { method: "GET", path: "/ready", need: "public" },
  { method: "GET", path: "/metrics", need: "metrics" },
  { method: "GET", path: "/stats", need: "read" },
  { method: "POST", path: "/ingest/message/:entity", need: "ingest" },
  { method: "POST", path: "/ingest/message", need: "ingest" },
  { method: "POST", path: "/ingest/batch/:entity", need: "ingest" },
  { method: "POST", path: "/ingest/batch", need: "ingest" },
  { method: "GET", path: "/ingest/status/:message_id", need: "read" },
  { method: "POST", path: "/ingest/status", need: "read" },
  { method: "GET", path: "/dlq", need: "read" },
  { method: "GET", path: "/dlq/:message_id", need: "read" },
  { method: "POST", path: "/dlq/replay", need: "dlq" },
  { method: "POST", path: "/dlq/:message_id/replay", need: "dlq" },
  { method: "DELETE", path: "/dlq/:message_id", need: "dlq" },
  // The document describes the API (entity schemas, no data); Swagger UI must load it to ask for a key.
  { method: "GET", path: "/openapi.json", need: "public" },
  { method: "GET", path: "/api-docs/openapi.json", need: "public" },
  // Pages and their scripts hold no data; they must load to ask for a key.
  { method: "GET", path: "/docs", need: "public" },
  { method: "GET", path: "/swagger-ui", need: "public" },
  ...SWAGGER_ASSETS.map((path) => ({ method: "GET", path, need: "public" }) as const),
  { method: "GET", path: "/dashboard", need: "public" },
  { method: "GET", path: "/dashboard/assets/dashboard.js", need: "public" },
  { method: "GET", path: "/dashboard/assets/dashboard.css", need: "public" },
  { method: "GET", path: "/dashboard/events", need: "read" },
  { method: "GET", path: "/dashboard/api/entities", need: "read" },
  { method: "GET", path: "/dashboard/api/rows/:entity", need: "read" },
  { method: "GET", path: "/dashboard/api/sample/:entity", need: "read" },
];

type Compiled = RouteAccess & { pattern: RegExp };

const compiled: Compiled[] = ROUTE_ACCESS.map((row) => ({
  ...row,
  pattern: new RegExp(`^${row.path.replace(/[.]/g, "\\.").replace(/:\w+/g, "([^/]+)")}/?$`),
}));

/** The row a request falls under, and the `:entity` it names if any; undefined for no route (a 404 follows). */
export function accessFor(method: string, path: string): { row: RouteAccess; entity?: string } | undefined {
  const verb = method === "HEAD" ? "GET" : method;
  for (const row of compiled) {
    if (row.method !== verb) continue;
    const match = row.pattern.exec(path);
    if (!match) continue;
    const entity = row.path.includes(":entity") && row.need === "ingest"
      ? decodeURIComponent(match[1])
      : undefined;
    return { row, entity };
  }
  return undefined;
}

/** The key a request presents: `Authorization: Bearer <key>` or `X-API-Key`. */
function presentedKey(authorization: string | undefined, apiKey: string | undefined): string | undefined {
  const bearer = authorization ? /^Bearer[ ]+(\S+)\s*$/i.exec(authorization)?.[1] : undefined;
  return bearer ?? (apiKey?.trim() || undefined);
}

/** The context variable holding the name of the API key a request was let in with (rate limits count by it). */
export const API_KEY_NAME = "apiKeyName";

/** The context variable that says whether this request may see row values in database errors. */
const FULL_ERRORS = "nomnom.fullErrors";

/**
 * Whether the caller sees database errors whole, row values included (src/db/error_values.ts): with API keys,
 * only a key with the `dlq` scope (the dead-letter admin); without keys everyone is the admin, so yes.
 */
export function seesFullErrors(c: Context): boolean {
  return (c.get(FULL_ERRORS as never) as boolean | undefined) ?? true;
}

const unauthorized = (message: string) => new HttpError(401, message, { scheme: "Bearer" });

/**
 * 401 without a valid key, 403 naming the missing scope. An ingest route with an entity in its path also
 * accepts `ingest:<Entity>`; the routes that name entities in the body need the whole `ingest` scope.
 * Unknown routes pass through to the 404 (a key is still required, so routes cannot be probed without one).
 */
export function requireScopes(keys: ApiKeys, options: { metricsPublic: boolean }): MiddlewareHandler {
  return async (c, next) => {
    c.set(FULL_ERRORS as never, false as never);
    const found = accessFor(c.req.method, c.req.path);
    const need = found?.row.need === "metrics"
      ? (options.metricsPublic ? "public" : "read")
      : found?.row.need;
    if (need === "public" || c.req.method === "OPTIONS") return await next();
    const presented = presentedKey(c.req.header("Authorization"), c.req.header("X-API-Key"));
    if (presented === undefined) {
      c.header("WWW-Authenticate", 'Bearer realm="nomnom"');
      throw unauthorized("an API key is required: send Authorization: Bearer <key> or X-API-Key");
    }
    const key = keys.find(presented);
    if (!key) {
      c.header("WWW-Authenticate", 'Bearer realm="nomnom", error="invalid_token"');
      throw unauthorized("the API key is not valid");
    }
    c.set(API_KEY_NAME, key.name);
    if (need !== undefined && !key.scopes.has(need)) {
      const entity = found?.entity;
      const narrow = need === "ingest" && entity !== undefined &&
        [...key.scopes].some((s) => s.toLowerCase() === `ingest:${entity.toLowerCase()}`);
      if (!narrow) {
        const wanted = need === "ingest" && entity !== undefined ? `ingest or ingest:${entity}` : need;
        throw new HttpError(403, `API key "${key.name}" lacks the scope ${wanted}`, {
          missing_scope: wanted,
        });
      }
    }
    c.set(FULL_ERRORS as never, key.scopes.has("dlq") as never);
    await next();
  };
}
