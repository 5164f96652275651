/**
 * The API's error answers: one shape `{error, details}` everywhere, mapped once in `app.onError`, and the few
 * checks every route shares so that a client's mistake is never a 500.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { PayloadError } from "../errors.ts";
import { isNatsUnavailable } from "../stream/connect.ts";
import { PublishTooLargeError, PublishUnavailableError } from "../stream/publish.ts";

/** An error with the HTTP status to answer and optional details (e.g. failing fields). */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(readonly status: ContentfulStatusCode, message: string, readonly details?: unknown) {
    super(message);
  }
}

/** Seconds a client is asked to wait when PostgreSQL is unreachable (it restarts or fails over in seconds). */
const DATABASE_RETRY_AFTER_SECONDS = 2;

/**
 * True for "PostgreSQL cannot be reached right now": socket errors, postgres.js's own connection codes, and the
 * SQLSTATEs of a server going away or not accepting connections (class 08 connection exception; 57P01–57P03
 * admin/crash shutdown, cannot connect now; 53300 too many connections; 55000, which is what a database that does
 * not accept connections answers a new one: ALLOW_CONNECTIONS false, a database being taken down). PostgreSQL
 * appendix A; postgres.js README "Connection errors".
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (typeof code !== "string") return false;
  return /^(08...|57P0[123]|53300|55000)$/.test(code) || /^CONNECT(ION)?_/.test(code) ||
    ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH"]
      .includes(code);
}

/** Map any error to its JSON answer. Client errors are never 500s; an unavailable dependency is a 503. */
export function errorResponse(error: Error, c: Context): Response {
  if (error instanceof HttpError) {
    return c.json({ error: error.message, details: error.details ?? null }, error.status);
  }
  if (error instanceof PayloadError) {
    return c.json({ error: `invalid ${error.entity} message`, details: error.issues }, 422);
  }
  if (error instanceof PublishTooLargeError) {
    return c.json({ error: error.message, details: { max_bytes: error.maxBytes } }, 413);
  }
  if (error instanceof PublishUnavailableError) {
    c.header("Retry-After", String(error.retryAfterSeconds));
    return c.json({ error: "service unavailable", details: error.message }, 503);
  }
  if (isDatabaseUnavailable(error)) {
    c.header("Retry-After", String(DATABASE_RETRY_AFTER_SECONDS));
    return c.json({
      error: "service unavailable",
      details: `PostgreSQL cannot be reached (${(error as { code?: string }).code}); retry later`,
    }, 503);
  }
  if (isNatsUnavailable(error)) {
    c.header("Retry-After", "1");
    return c.json({ error: "service unavailable", details: `NATS cannot be reached: ${error.message}` }, 503);
  }
  if ((error as { status?: number }).status === 413) {
    return c.json({ error: "request body too large", details: null }, 413);
  }
  return c.json({ error: "internal error", details: error.message }, 500);
}

/**
 * The request body as bytes. A body the client aborted or cut short (fewer bytes than its Content-Length) is
 * the client's problem: 400, not the runtime's read error as a 500 (Deno throws BadResource, Bun a TypeError).
 */
export async function readBody(c: Context): Promise<Uint8Array> {
  try {
    return new Uint8Array(await c.req.arrayBuffer());
  } catch (error) {
    throw bodyReadError(error);
  }
}

/** What a failed body read becomes: our own errors (413 from the size limit) pass, the rest is a 400. */
export function bodyReadError(error: unknown): Error {
  if (error instanceof HttpError || (error as { status?: number })?.status === 413) return error as Error;
  return new HttpError(400, "the request body could not be read: the client ended it early");
}
