/**
 * Ingest routes: validate against the entity, publish durably, answer 202 with the message id.
 *   POST /ingest/message/{entity}       one JSON message
 *   POST /ingest/message                compatibility: entity from ?entity=, X-Entity-Type or `entity_type`;
 *                                       also {"body_base64": ..., "entity_type": ...}
 *   POST /ingest/batch[/{entity}]       NDJSON, one message per line, per-line results
 */
import { isUtf8 } from "node:buffer";
import { createHash } from "node:crypto";
import { type Context, Hono } from "hono";
import { v5 as uuidv5, v7 as uuidv7 } from "uuid";
import { decodeMessage } from "../registry/derive.ts";
import type { StatusFinder } from "../lifecycle/status.ts";
import type { Entity, Registry } from "../registry/types.ts";
import type { Logger } from "../log.ts";
import type { Publisher } from "../stream/publish.ts";
import type { Accepted, BatchLine, BatchResult } from "./contract.ts";
import { answerFor, HttpError, readBody } from "./http_error.ts";
import { findLines } from "./ndjson_lines.ts";
import { createPublishWindow } from "./publish_window.ts";

/**
 * Publishes in flight at once for all NDJSON requests together (JetStream acks pipeline; unbounded would flood
 * NATS, and per request it grew with the number of batches: publish_window.ts).
 */
const PUBLISH_WINDOW = 256;

/** UUIDv5 namespace of message ids derived from an Idempotency-Key (any fixed UUID; never change it). */
const IDEMPOTENCY_NAMESPACE = "8f9b6a1e-4c1d-4e0b-9a57-2f1e6c3d5b70";
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** What the ingest routes need. `statuses` answers whether an idempotent repeat already exists. */
export type IngestDeps = {
  registry: Registry;
  publisher: Publisher;
  statuses: StatusFinder;
  log: Logger;
  /** --max-message-bytes: the largest message, also each line of a batch. */
  messageBytes: number;
  /** With --rate-limit: charge a batch its lines before any is published (throws the 429). */
  admit?: (c: Context, messages: number) => void;
};

/** The ingest sub-app. */
export function createIngestRoutes(
  { registry, publisher, statuses, log, messageBytes, admit }: IngestDeps,
): Hono {
  const byName = new Map<string, Entity>();
  for (const e of registry.entities.values()) byName.set(normalize(e.name), e);
  const findEntity = (name: string): Entity => {
    const entity = byName.get(normalize(name));
    if (!entity) {
      const known = registry.ingestible.map((e) => e.name).join(", ");
      throw new HttpError(404, `unknown entity "${name}"`, { known_entities: known });
    }
    if (entity.kind === "derived") {
      throw new HttpError(
        404,
        `"${entity.name}" is derived from "${entity.root}": post a ${entity.root} instead`,
      );
    }
    return entity;
  };

  /**
   * Validate, then publish. With an Idempotency-Key the message id is derived from (entity, key): a repeat finds
   * the status row (or the message still in the stream) and creates nothing; two repeats racing each other are
   * caught by JetStream's dedup window on the same `Nats-Msg-Id`. The body's SHA-256 goes with the message, so
   * a repeat whose body differs is refused (422) instead of being answered as a duplicate and dropped.
   */
  const accept = async (
    entity: Entity,
    bytes: Uint8Array,
    body: unknown,
    key?: string,
  ): Promise<Accepted> => {
    decodeMessage(registry, entity, body);
    const receivedAt = new Date();
    const messageId = key === undefined ? uuidv7() : uuidv5(`${entity.name}\n${key}`, IDEMPOTENCY_NAMESPACE);
    const accepted = { message_id: messageId, entity: entity.name, timestamp: receivedAt.toISOString() };
    const bodySha256 = key === undefined ? undefined : createHash("sha256").update(bytes).digest("hex");
    if (key !== undefined) {
      const existing = await findExisting(messageId);
      if (existing) {
        await checkSameBody(entity, messageId, key, bodySha256!);
        return {
          ...accepted,
          status: existing.status,
          timestamp: existing.received_at ?? accepted.timestamp,
          duplicate: true,
        };
      }
    }
    const published = await publisher.publish({
      entity: entity.name,
      body: bytes,
      messageId,
      receivedAt,
      bodySha256,
    });
    if (published.duplicate && key !== undefined) await checkSameBody(entity, messageId, key, bodySha256!);
    return published.duplicate
      ? { ...accepted, status: "accepted", duplicate: true }
      : { ...accepted, status: "accepted" };
  };
  /**
   * The earlier message of an idempotent repeat, if any. When PostgreSQL (or the stream lookup) fails, the
   * request still goes through: the publish carries the same Nats-Msg-Id, so JetStream's dedup window
   * (--duplicate-window-ms) still catches a repeat within it; only an older repeat could be stored twice.
   */
  const findExisting = async (messageId: string) => {
    try {
      return (await statuses.find([messageId])).get(messageId);
    } catch (error) {
      log.warn("idempotency lookup failed; publishing anyway (JetStream dedup still applies)", {
        message_id: messageId,
        error,
      });
      return undefined;
    }
  };

  /** A repeated Idempotency-Key must come with the same body (byte for byte) as the message it created. */
  const checkSameBody = async (entity: Entity, messageId: string, key: string, bodySha256: string) => {
    const earlier = await statuses.bodySha256(entity.name, messageId);
    // undefined: accepted before body hashes were kept; nothing to compare with.
    if (earlier !== undefined && earlier !== bodySha256) {
      throw new HttpError(
        422,
        `Idempotency-Key "${key}" was already used for another ${entity.name} body (message ${messageId}): ` +
          `repeat the request with the same body, or send a new message under a new key`,
        [{ field: "Idempotency-Key", message: "used for another body" }],
      );
    }
  };

  const idempotencyKey = (header: string | undefined): string | undefined => {
    if (header === undefined) return undefined;
    if (!IDEMPOTENCY_KEY.test(header)) {
      throw new HttpError(400, "Idempotency-Key must be 1 to 255 visible ASCII characters");
    }
    return header;
  };
  const answer = (a: Accepted) => (a.duplicate ? 200 : 202) as 200 | 202;

  const window = createPublishWindow(PUBLISH_WINDOW);
  const app = new Hono();

  app.post("/message/:entity", async (c) => {
    const entity = findEntity(c.req.param("entity"));
    const key = idempotencyKey(c.req.header("Idempotency-Key"));
    const bytes = await readBody(c);
    const result = await accept(entity, bytes, parseJson(bytes), key);
    return c.json(result, answer(result));
  });

  app.post("/message", async (c) => {
    let bytes: Uint8Array = await readBody(c);
    let body = parseJson(bytes);
    const envelope = isObject(body) ? body : {};
    if (typeof envelope.body_base64 === "string") {
      bytes = decodeBase64(envelope.body_base64);
      body = parseJson(bytes, "body_base64");
    }
    const name = c.req.query("entity") ?? c.req.header("X-Entity-Type") ?? envelope.entity_type ??
      (isObject(body) ? body.entity_type : undefined);
    if (typeof name !== "string" || name === "") {
      throw new HttpError(
        400,
        "which entity? give ?entity=, the X-Entity-Type header or an entity_type field",
      );
    }
    const result = await accept(
      findEntity(name),
      bytes,
      body,
      idempotencyKey(c.req.header("Idempotency-Key")),
    );
    return c.json(result, answer(result));
  });

  /**
   * The lines of one NDJSON body, each validated and published as a view of the body's bytes (ndjson_lines.ts),
   * with at most PUBLISH_WINDOW publishes in flight across all batches (publish_window.ts); what a line keeps
   * until the answer is its result.
   */
  const batch = async (
    c: Context,
    bytes: Uint8Array,
    entityFor: (line: unknown) => Entity,
    key: string | undefined,
  ) => {
    // Strict: invalid UTF-8 anywhere refuses the whole batch (400) before any line is published.
    if (!isUtf8(bytes)) throw new HttpError(400, "body is not valid UTF-8");
    const lines = findLines(bytes);
    const count = lines.start.length;
    // Every line counts, valid or not, and the whole batch is refused before any line is published.
    admit?.(c, count);
    if (count === 0) throw new HttpError(400, "empty batch: send one JSON message per line (NDJSON)");
    const results: BatchLine[] = new Array(count);
    let next = 0;
    const publishLine = async (i: number) => {
      const line = lines.number[i];
      try {
        const view = bytes.subarray(lines.start[i], lines.end[i]);
        if (view.length > messageBytes) {
          throw new HttpError(
            413,
            `line ${line} is ${view.length} bytes, larger than --max-message-bytes (${messageBytes})`,
          );
        }
        const lineKey = key === undefined ? undefined : `${key}:${line}`;
        const body = parseJsonText(lineDecoder.decode(view), `line ${line}`);
        results[i] = { line, ...await accept(entityFor(body), view, body, lineKey) };
      } catch (error) {
        results[i] = lineError(line, error as Error);
      }
    };
    const work = async () => {
      while (next < count) {
        await window.acquire();
        try {
          if (next < count) await publishLine(next++);
        } finally {
          window.release();
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PUBLISH_WINDOW, count) }, work));
    const accepted = results.filter((r) => r.status !== "rejected").length;
    // Not Math.max(...results): a batch of a million short lines would pass a million arguments (RangeError, 500).
    const retryAfter = results.reduce(
      (max, r) => Math.max(max, "retry_after" in r ? r.retry_after ?? 0 : 0),
      0,
    );
    const status = accepted > 0 ? 202 : retryAfter > 0 ? 503 : 422;
    const body: BatchResult = { accepted, rejected: results.length - accepted, results };
    return { status, body, retryAfter } as const;
  };

  app.post("/batch/:entity", async (c) => {
    const entity = findEntity(c.req.param("entity"));
    const key = idempotencyKey(c.req.header("Idempotency-Key"));
    const { status, body, retryAfter } = await batch(c, await readBody(c), () => entity, key);
    if (status === 503) c.header("Retry-After", String(retryAfter));
    return c.json(body, status);
  });

  app.post("/batch", async (c) => {
    const fixed = c.req.query("entity") ?? c.req.header("X-Entity-Type");
    const entity = fixed ? findEntity(fixed) : undefined;
    const key = idempotencyKey(c.req.header("Idempotency-Key"));
    const { status, body, retryAfter } = await batch(c, await readBody(c), (line) => {
      if (entity) return entity;
      const name = isObject(line) ? line.entity_type : undefined;
      if (typeof name !== "string") {
        throw new HttpError(400, "line has no entity_type (or use /ingest/batch/{entity})");
      }
      return findEntity(name);
    }, key);
    if (status === 503) c.header("Retry-After", String(retryAfter));
    return c.json(body, status);
  });

  return app;
}

/**
 * A rejected line, answered by the same table as a whole request: `code` is the status the line would get on its
 * own (400, 404, 413, 422, 503); a line worth retrying says so (`retryable`, `retry_after` seconds).
 */
function lineError(line: number, error: Error): BatchLine {
  const answer = answerFor(error);
  const errors = answer.status === 422 && Array.isArray(answer.details)
    ? answer.details
    : [{ field: "", message: answer.status >= 500 ? String(answer.details) : answer.error }];
  const rejected = { line, status: "rejected" as const, code: answer.status, errors };
  return answer.retryAfter === undefined
    ? rejected
    : { ...rejected, retryable: true, retry_after: answer.retryAfter };
}

function normalize(name: string): string {
  return name.toLowerCase().replace(/[_-]/g, "");
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const decoder = new TextDecoder("utf-8", { fatal: true });
/** A batch's lines: the body was checked as a whole, and a byte order mark inside a line stays (JSON refuses it). */
const lineDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

function parseJson(bytes: Uint8Array, what = "body"): unknown {
  if (bytes.length === 0) throw new HttpError(400, `empty ${what}: send a JSON object`);
  return parseJsonText(decodeUtf8(bytes, what), what);
}

/** Strict: invalid UTF-8 is the client's error, never replacement characters in stored data. */
function decodeUtf8(bytes: Uint8Array | ArrayBuffer, what: string): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new HttpError(400, `${what} is not valid UTF-8`);
  }
}

function parseJsonText(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `malformed JSON in ${what}: ${(error as Error).message}`);
  }
}

function decodeBase64(text: string): Uint8Array {
  try {
    return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
  } catch {
    throw new HttpError(400, "body_base64 is not valid base64");
  }
}
