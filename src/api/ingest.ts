/**
 * Ingest routes: validate against the entity, publish durably, answer 202 with the message id.
 *   POST /ingest/message/{entity}       one JSON message
 *   POST /ingest/message                compatibility: entity from ?entity=, X-Entity-Type or `entity_type`;
 *                                       also {"body_base64": ..., "entity_type": ...}
 *   POST /ingest/batch[/{entity}]       NDJSON, one message per line, per-line results
 */
import { Hono } from "hono";
import { v7 as uuidv7 } from "uuid";
import { PayloadError } from "../errors.ts";
import { decodeMessage } from "../registry/derive.ts";
import type { Entity, Registry } from "../registry/types.ts";
import type { Publisher } from "../stream/publish.ts";
import { HttpError } from "./http_error.ts";

/** Publishes in flight at once for one NDJSON request (JetStream acks pipeline; unbounded would flood NATS). */
const BATCH_WINDOW = 256;

export type Accepted = { message_id: string; entity: string; status: "accepted"; timestamp: string };

/** The ingest sub-app. */
export function createIngestRoutes(registry: Registry, publisher: Publisher): Hono {
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

  const accept = async (entity: Entity, bytes: Uint8Array, body: unknown): Promise<Accepted> => {
    decodeMessage(registry, entity, body);
    const messageId = uuidv7();
    const receivedAt = new Date();
    await publisher.publish(entity.name, bytes, messageId, receivedAt);
    return {
      message_id: messageId,
      entity: entity.name,
      status: "accepted",
      timestamp: receivedAt.toISOString(),
    };
  };

  const app = new Hono();

  app.post("/message/:entity", async (c) => {
    const entity = findEntity(c.req.param("entity"));
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    return c.json(await accept(entity, bytes, parseJson(bytes)), 202);
  });

  app.post("/message", async (c) => {
    let bytes: Uint8Array = new Uint8Array(await c.req.arrayBuffer());
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
    return c.json(await accept(findEntity(name), bytes, body), 202);
  });

  const batch = async (text: string, entityFor: (line: unknown) => Entity) => {
    const lines = text.split(/\r?\n/).map((raw, i) => ({ raw, line: i + 1 })).filter((l) =>
      l.raw.trim() !== ""
    );
    if (lines.length === 0) throw new HttpError(400, "empty batch: send one JSON message per line (NDJSON)");
    const encoder = new TextEncoder();
    const results: Record<string, unknown>[] = new Array(lines.length);
    let next = 0;
    const work = async () => {
      while (next < lines.length) {
        const i = next++;
        const { raw, line } = lines[i];
        try {
          const body = parseJson(encoder.encode(raw));
          results[i] = { line, ...await accept(entityFor(body), encoder.encode(raw), body) };
        } catch (error) {
          results[i] = { line, status: "rejected", ...lineError(error as Error) };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(BATCH_WINDOW, lines.length) }, work));
    const accepted = results.filter((r) => r.status === "accepted").length;
    const unavailable = results.some((r) => r.status === "rejected" && r.retryable);
    const status = accepted > 0 ? 202 : unavailable ? 503 : 422;
    return { status, body: { accepted, rejected: results.length - accepted, results } } as const;
  };

  app.post("/batch/:entity", async (c) => {
    const entity = findEntity(c.req.param("entity"));
    const { status, body } = await batch(await c.req.text(), () => entity);
    return c.json(body, status);
  });

  app.post("/batch", async (c) => {
    const fixed = c.req.query("entity") ?? c.req.header("X-Entity-Type");
    const entity = fixed ? findEntity(fixed) : undefined;
    const { status, body } = await batch(await c.req.text(), (line) => {
      if (entity) return entity;
      const name = isObject(line) ? line.entity_type : undefined;
      if (typeof name !== "string") {
        throw new HttpError(400, "line has no entity_type (or use /ingest/batch/{entity})");
      }
      return findEntity(name);
    });
    return c.json(body, status);
  });

  return app;
}

function lineError(error: Error): Record<string, unknown> {
  if (error instanceof PayloadError) return { errors: error.issues };
  if (error instanceof HttpError) return { errors: [{ field: "", message: error.message }] };
  return { errors: [{ field: "", message: error.message }], retryable: true };
}

function normalize(name: string): string {
  return name.toLowerCase().replace(/[_-]/g, "");
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const decoder = new TextDecoder("utf-8", { fatal: true });

function parseJson(bytes: Uint8Array, what = "body"): unknown {
  if (bytes.length === 0) throw new HttpError(400, `empty ${what}: send a JSON object`);
  try {
    return JSON.parse(decoder.decode(bytes));
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
