/**
 * The API's error answers: one shape `{error, details}` everywhere, one table from failure to answer (used by
 * `app.onError` and by the lines of a batch), and the body reading every route shares.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { classifyDatabaseError, sqlCode } from "../db/sqlstate.ts";
import { PayloadError } from "../errors.ts";
import { DlqConflictError, DlqFilterError } from "../lifecycle/dead_letters.ts";
import { isNatsUnavailable } from "../stream/connect.ts";
import { PublishTooLargeError, PublishUnavailableError } from "../stream/publish.ts";

/** An error with the HTTP status to answer and optional details (e.g. failing fields). */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(readonly status: ContentfulStatusCode, message: string, readonly details?: unknown) {
    super(message);
  }
}

/** A request over its rate limit (./rate_limit.ts): 429 with Retry-After and the RateLimit headers. */
export class RateLimitedError extends Error {
  override name = "RateLimitedError";
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    readonly headers: Record<string, string>,
  ) {
    super(message);
  }
}

/** Seconds a client is asked to wait when PostgreSQL is unreachable (it restarts or fails over in seconds). */
const DATABASE_RETRY_AFTER_SECONDS = 2;
/** Seconds a client is asked to wait when NATS does not answer (the connection reconnects every 500 ms). */
const NATS_RETRY_AFTER_SECONDS = 1;

/**
 * How the API answers a failure: the status, the `{error, details}` body, and for a 503 Retry-After and the
 * dependency that is away.
 */
export type Answer = {
  status: ContentfulStatusCode;
  error: string;
  details: unknown;
  retryAfter?: number;
  unavailable?: "NATS" | "PostgreSQL";
  /** Further answer headers (the RateLimit fields of a 429). */
  headers?: Record<string, string>;
};

const unavailable = (dependency: "NATS" | "PostgreSQL", details: string, retryAfter: number): Answer => ({
  status: 503,
  error: "service unavailable",
  details,
  retryAfter,
  unavailable: dependency,
});

/**
 * The one table from failure to answer, used by `app.onError` and by each rejected line of a batch. A client's
 * mistake is never a 500; an unavailable dependency is a 503 that says when to come back.
 */
export function answerFor(error: Error): Answer {
  if (error instanceof HttpError) {
    return { status: error.status, error: error.message, details: error.details ?? null };
  }
  if (error instanceof PayloadError) {
    return { status: 422, error: `invalid ${error.entity} message`, details: error.issues };
  }
  if (error instanceof PublishTooLargeError) {
    return { status: 413, error: error.message, details: { max_bytes: error.maxBytes } };
  }
  if (error instanceof DlqFilterError) {
    return { status: 400, error: error.message, details: { parameter: error.parameter } };
  }
  if (error instanceof DlqConflictError) return { status: 409, error: error.message, details: null };
  if (error instanceof RateLimitedError) {
    return {
      status: 429,
      error: error.message,
      details: { retry_after: error.retryAfterSeconds },
      retryAfter: error.retryAfterSeconds,
      headers: error.headers,
    };
  }
  if (error instanceof PublishUnavailableError) {
    return unavailable("NATS", error.message, error.retryAfterSeconds);
  }
  if (classifyDatabaseError(error) === "unavailable") {
    return unavailable(
      "PostgreSQL",
      `PostgreSQL cannot be reached (${sqlCode(error)}); retry later`,
      DATABASE_RETRY_AFTER_SECONDS,
    );
  }
  if (isNatsUnavailable(error)) {
    return unavailable("NATS", `NATS cannot be reached: ${error.message}`, NATS_RETRY_AFTER_SECONDS);
  }
  // Hono's own HTTPException (a body-limit or a parser refusing the request).
  if ((error as { status?: number }).status === 413) {
    return { status: 413, error: "request body too large", details: null };
  }
  return { status: 500, error: "internal error", details: error.message };
}

/** Render `answerFor(error)` as the JSON response. */
export function errorResponse(error: Error, c: Context): Response {
  const answer = answerFor(error);
  if (answer.retryAfter !== undefined) c.header("Retry-After", String(answer.retryAfter));
  for (const [name, value] of Object.entries(answer.headers ?? {})) c.header(name, value);
  return c.json({ error: answer.error, details: answer.details }, answer.status);
}

/**
 * Bodies larger than this (by Content-Length) are read chunk by chunk into one buffer of that length: Deno's
 * `arrayBuffer()` held about five times a large body while reading it (16 NDJSON batches of 1 MB: 88 against
 * 41 MB; docs/performance.md, "what the API's memory is made of"). Small bodies take `arrayBuffer()`, which is
 * the cheaper call for them.
 */
const STREAMED_BODY_BYTES = 64 * 1024;

/**
 * The request body as bytes. A body the client aborted or cut short (fewer bytes than its Content-Length) is
 * the client's problem: 400, not the runtime's read error as a 500 (Deno throws BadResource, Bun a TypeError).
 */
export async function readBody(c: Context): Promise<Uint8Array> {
  try {
    // Only a Content-Length that frames the body (no Transfer-Encoding beside it) was checked against the
    // route's limit (app.ts) and may size the buffer; any other body is read, under bodyLimit, as it comes.
    const length = c.req.header("Transfer-Encoding") ? NaN : Number(c.req.header("Content-Length"));
    const stream = c.req.raw.body;
    if (!(length > STREAMED_BODY_BYTES) || !stream) return new Uint8Array(await c.req.arrayBuffer());
    const bytes = new Uint8Array(length);
    let at = 0;
    for await (const chunk of stream) {
      bytes.set(chunk, at); // a chunk past Content-Length throws RangeError: a 400 like any broken body
      at += chunk.length;
    }
    if (at !== length) throw new Error(`body of ${at} bytes, Content-Length ${length}`);
    return bytes;
  } catch (error) {
    throw bodyReadError(error);
  }
}

/** What a failed body read becomes: our own errors (413 from the size limit) pass, the rest is a 400. */
export function bodyReadError(error: unknown): Error {
  if (error instanceof HttpError || (error as { status?: number })?.status === 413) return error as Error;
  return new HttpError(400, "the request body could not be read: the client ended it early");
}
