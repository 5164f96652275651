/**
 * CORS for the API (--cors-origins, --cors-methods, --cors-headers): off unless origins are set. Hono's
 * `hono/cors` answers the preflight and sets the headers, but it sets Access-Control-Expose-Headers, and on a
 * preflight -Allow-Methods, -Allow-Headers and -Max-Age, for any origin (only -Allow-Origin depends on it), and
 * its Vary: Origin is missing on non-preflight answers when the origin is `*`. So it is called only for an allowed
 * origin: any other request gets no Access-Control-* header at all, and a preflight from a disallowed origin a
 * 403 that names the setting. No credentials (no cookies are used; keys travel in a header the page sets).
 */
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { HttpError } from "./http_error.ts";

/** How long a browser may cache a preflight answer (seconds). */
export const CORS_MAX_AGE_SECONDS = 600;

/** Answer headers a cross-origin page needs to read: request id, rate limits, when to retry, why a 401. */
export const CORS_EXPOSED_HEADERS = [
  "X-Request-Id",
  "Retry-After",
  "RateLimit",
  "RateLimit-Policy",
  "WWW-Authenticate",
] as const;

/** The resolved CORS settings (src/settings.ts `cors`). */
export type CorsSettings = { origins?: string[]; methods: string[]; headers: string[] };

/** The CORS middleware, or undefined when no origin is allowed (then nothing CORS-related is answered). */
export function createCors(settings: CorsSettings): MiddlewareHandler | undefined {
  const origins = settings.origins;
  if (!origins || origins.length === 0) return undefined;
  const any = origins.includes("*");
  const allowed = (origin: string) => any || origins.includes(origin);
  const answer = cors({
    origin: (origin) => (allowed(origin) ? (any ? "*" : origin) : null),
    allowMethods: settings.methods,
    allowHeaders: settings.headers,
    exposeHeaders: [...CORS_EXPOSED_HEADERS],
    maxAge: CORS_MAX_AGE_SECONDS,
  });
  return async (c, next) => {
    const origin = c.req.header("Origin");
    if (origin !== undefined && allowed(origin)) return await answer(c, next);
    // The answer depends on Origin whatever it was: a cache must not give one origin's answer to another.
    if (c.req.method === "OPTIONS" && c.req.header("Access-Control-Request-Method") !== undefined) {
      c.header("Vary", "Origin", { append: true });
      throw new HttpError(
        403,
        `origin ${origin ?? "(none)"} is not allowed: --cors-origins lists the origins allowed`,
      );
    }
    await next();
    c.header("Vary", "Origin", { append: true });
  };
}
