/**
 * The API's error answers: one shape `{error, details}` everywhere, mapped once in `app.onError`.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { PayloadError } from "../errors.ts";
import { PublishUnavailableError } from "../stream/publish.ts";

/** An error with the HTTP status to answer and optional details (e.g. failing fields). */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(readonly status: ContentfulStatusCode, message: string, readonly details?: unknown) {
    super(message);
  }
}

/** Map any error to its JSON answer. Client errors are never 500s. */
export function errorResponse(error: Error, c: Context): Response {
  if (error instanceof HttpError) {
    return c.json({ error: error.message, details: error.details ?? null }, error.status);
  }
  if (error instanceof PayloadError) {
    return c.json({ error: `invalid ${error.entity} message`, details: error.issues }, 422);
  }
  if (error instanceof PublishUnavailableError) {
    c.header("Retry-After", String(error.retryAfterSeconds));
    return c.json({ error: "service unavailable", details: error.message }, 503);
  }
  if ((error as { status?: number }).status === 413) {
    return c.json({ error: "request body too large", details: null }, 413);
  }
  return c.json({ error: "internal error", details: error.message }, 500);
}
