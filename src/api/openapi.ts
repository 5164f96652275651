/**
 * The OpenAPI 3.1 document, generated from the registry: one request schema per ingestible entity, made from
 * the same zod schema that validates its messages, plus every other route the API serves. Swagger UI is served
 * from the `swagger-ui-dist` package's files, imported as text so they travel inside a compiled binary.
 */
import { Hono } from "hono";
import { z } from "zod";
import { DASHBOARD_OPENAPI_PATHS } from "../dashboard/routes.ts";
import type { Registry } from "../registry/types.ts";

type Json = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json, description: string) => ({
  description,
  content: { "application/json": { schema } },
});
/** Every 503 says when to come back. */
const retryAfter = {
  "Retry-After": {
    description: "Seconds to wait before retrying",
    schema: { type: "integer", minimum: 1 },
  },
};
const errors = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((code) => [
      String(code),
      code === 503
        ? { ...json(ref("Error"), ERROR_TEXT[code]), headers: retryAfter }
        : json(ref("Error"), ERROR_TEXT[code]),
    ]),
  );
const ERROR_TEXT: Record<number, string> = {
  400: "Malformed request (JSON, body cut short, id or parameter; details.parameter names a bad parameter)",
  404: "Unknown entity, message or route",
  413: "Request body, or a message, larger than the limit (named in the answer)",
  409: "The message is not in the dead-letter queue any more (replayed or dropped)",
  415: "Unsupported content type",
  422: "The message does not match its entity (every failing field is named), or its Idempotency-Key was " +
    "already used for another body (details names Idempotency-Key)",
  503: "Not available now (NATS or PostgreSQL unreachable, stream full, no ack in time): retry after " +
    "Retry-After seconds",
};
const idParam = {
  name: "message_id",
  in: "path",
  required: true,
  description: "A UUID the API issued, or seq-<n> for a message put on the stream without one",
  schema: {
    type: "string",
    pattern:
      "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|seq-[1-9][0-9]{0,19})$",
  },
};
const idempotencyHeader = {
  name: "Idempotency-Key",
  in: "header",
  required: false,
  description:
    "A repeat with the same key and the same body (byte for byte) returns the original message id " +
    "with duplicate: true (200); the same key with another body is refused with 422. In a batch, line n uses " +
    "the key <key>:<n>.",
  schema: { type: "string", minLength: 1, maxLength: 255 },
};
const ndjson = {
  required: true,
  content: {
    "application/x-ndjson": { schema: { type: "string", description: "one JSON message per line" } },
  },
};

/** JSON Schema of a zod schema, its `$defs` moved into components under `prefix`. */
function entitySchema(schema: z.ZodType, prefix: string, components: Json): Json {
  const generated = z.toJSONSchema(schema, {
    target: "draft-2020-12",
    io: "input",
    unrepresentable: "any",
  }) as Json;
  const { $schema: _, $defs, ...rest } = generated;
  const rewrite = (value: unknown) =>
    JSON.parse(JSON.stringify(value).replaceAll('"#/$defs/', `"#/components/schemas/${prefix}_`));
  for (const [name, def] of Object.entries(($defs ?? {}) as Json)) {
    components[`${prefix}_${name}`] = rewrite(def);
  }
  return rewrite(rest);
}

/** Build the document (pure). */
export function createOpenApiDocument(registry: Registry, version: string): Json {
  const entities = registry.ingestible.map((e) => e.name);
  const schemas: Json = {
    Error: {
      type: "object",
      required: ["error", "details"],
      properties: { error: { type: "string" }, details: {} },
    },
    Accepted: {
      type: "object",
      required: ["message_id", "entity", "status", "timestamp"],
      properties: {
        message_id: { type: "string", format: "uuid" },
        entity: { type: "string", enum: entities },
        status: { type: "string" },
        timestamp: { type: "string", format: "date-time" },
        duplicate: { type: "boolean" },
      },
    },
    BatchResult: {
      type: "object",
      properties: {
        accepted: { type: "integer" },
        rejected: { type: "integer" },
        results: {
          type: "array",
          items: {
            type: "object",
            required: ["line", "status"],
            properties: {
              line: { type: "integer", description: "1-based line number in the request" },
              status: { type: "string", description: "accepted, or rejected" },
              message_id: { type: "string", format: "uuid" },
              code: {
                type: "integer",
                description:
                  "A rejected line's status on its own: 400, 404, 413 (over --max-message-bytes), " +
                  "422 or 503",
              },
              errors: { type: "array", items: { type: "object" } },
              retryable: { type: "boolean" },
              retry_after: { type: "integer", description: "Seconds to wait before retrying this line" },
            },
          },
        },
      },
    },
    Status: {
      type: "object",
      required: ["message_id", "status"],
      properties: {
        message_id: { type: "string" },
        entity: { type: "string" },
        status: {
          type: "string",
          enum: ["accepted", "processing", "retrying", "completed", "dlq", "dropped", "unknown"],
        },
        received_at: { type: ["string", "null"], format: "date-time" },
        processed_at: { type: ["string", "null"], format: "date-time" },
        attempts: { type: "integer" },
        error: { type: ["string", "null"] },
        next_attempt_at: { type: ["string", "null"], format: "date-time" },
        history: { type: "array", items: { type: "object" } },
      },
    },
    DlqFilter: {
      type: "object",
      description: "At least one filter (here or in the query), or all: true to replay everything",
      properties: {
        entity: { type: "string", description: "Entity name, any case" },
        error: { type: "string", description: "Text in the error, matched literally" },
        since: { type: "string", format: "date-time" },
        until: { type: "string", format: "date-time" },
        all: { type: "boolean", const: true },
      },
      additionalProperties: false,
    },
  };
  for (const e of registry.ingestible) schemas[e.name] = entitySchema(e.messageSchema!, e.name, schemas);

  const entityParam = {
    name: "entity",
    in: "path",
    required: true,
    schema: { type: "string", enum: entities },
  };
  const accepted = {
    "202": json(ref("Accepted"), "Accepted and stored in JetStream"),
    "200": json(ref("Accepted"), "Idempotent repeat (duplicate: true)"),
  };
  const plain = (description: string) => ({
    "200": { description, content: { "text/plain": { schema: { type: "string" } } } },
  });
  const html = {
    "200": { description: "Swagger UI", content: { "text/html": { schema: { type: "string" } } } },
  };
  const openapi = { "200": json({ type: "object" }, "This document") };
  const ready = {
    "200": json({ type: "object" }, "Ready"),
    "503": json({ type: "object" }, "Not ready: failing checks named"),
  };

  return {
    openapi: "3.1.0",
    info: {
      title: "nomnom",
      version,
      description:
        "Ingest messages of the declared entities; follow them to PostgreSQL or the dead-letter queue.",
    },
    paths: {
      "/ingest/message/{entity}": {
        post: {
          summary: "Ingest one message",
          operationId: "ingestMessage",
          parameters: [entityParam, idempotencyHeader],
          requestBody: {
            required: true,
            // anyOf, not oneOf: entity schemas may overlap (a message valid for two entities is still valid).
            content: { "application/json": { schema: { anyOf: entities.map(ref) } } },
          },
          responses: { ...accepted, ...errors(400, 404, 413, 415, 422, 503) },
        },
      },
      "/ingest/message": {
        post: {
          summary:
            "Ingest one message, entity given by ?entity=, X-Entity-Type or entity_type (compatibility)",
          operationId: "ingestMessageCompat",
          parameters: [
            { name: "entity", in: "query", required: false, schema: { type: "string", enum: entities } },
            {
              name: "X-Entity-Type",
              in: "header",
              required: false,
              schema: { type: "string", enum: entities },
            },
            idempotencyHeader,
          ],
          requestBody: {
            required: true,
            content: {
              "application/json": {
                schema: {
                  anyOf: [
                    ...entities.map(ref),
                    {
                      type: "object",
                      required: ["body_base64"],
                      properties: { body_base64: { type: "string" }, entity_type: { type: "string" } },
                    },
                  ],
                },
              },
            },
          },
          responses: { ...accepted, ...errors(400, 404, 413, 415, 422, 503) },
        },
      },
      "/ingest/batch/{entity}": {
        post: {
          summary: "Ingest NDJSON, one message per line",
          operationId: "ingestBatch",
          parameters: [entityParam, idempotencyHeader],
          requestBody: ndjson,
          responses: {
            "202": json(ref("BatchResult"), "Per-line results; valid lines accepted"),
            "422": json(ref("BatchResult"), "No line was valid"),
            ...errors(400, 404, 413, 415, 503),
          },
        },
      },
      "/ingest/batch": {
        post: {
          summary: "Ingest NDJSON where each line names its entity_type",
          operationId: "ingestBatchMixed",
          parameters: [idempotencyHeader],
          requestBody: ndjson,
          responses: {
            "202": json(ref("BatchResult"), "Per-line results; valid lines accepted"),
            "422": json(ref("BatchResult"), "No line was valid"),
            ...errors(400, 404, 413, 415, 503),
          },
        },
      },
      "/ingest/status/{message_id}": {
        get: {
          summary: "Where a message is and why",
          operationId: "getStatus",
          parameters: [idParam],
          responses: { "200": json(ref("Status"), "The message's status"), ...errors(400, 404, 503) },
        },
      },
      "/ingest/status": {
        post: {
          summary: "Statuses of up to 1,000 messages",
          operationId: "getStatuses",
          requestBody: {
            required: true,
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  required: ["message_ids"],
                  properties: { message_ids: { type: "array", items: { type: "string" } } },
                },
              },
            },
          },
          responses: {
            "200": json(
              { type: "object", properties: { results: { type: "array", items: ref("Status") } } },
              "Statuses",
            ),
            ...errors(400, 422, 503),
          },
        },
      },
      "/dlq": {
        get: {
          summary: "Dead letters, oldest first",
          operationId: "listDeadLetters",
          parameters: ["entity", "error", "since", "until", "cursor"].map((name) => ({
            name,
            in: "query",
            required: false,
            schema: { type: "string" },
          }))
            .concat([{
              name: "limit",
              in: "query",
              required: false,
              schema: { type: "integer", minimum: 1, maximum: 1000 } as never,
            }]),
          responses: {
            "200": json({
              type: "object",
              properties: {
                entries: { type: "array", items: ref("Status") },
                next_cursor: { type: ["string", "null"] },
              },
            }, "A page"),
            ...errors(400, 503),
          },
        },
      },
      "/dlq/replay": {
        post: {
          summary: "Replay every dead letter matching a filter (or all: true)",
          operationId: "replayDeadLetters",
          requestBody: { required: false, content: { "application/json": { schema: ref("DlqFilter") } } },
          responses: {
            "200": json({ type: "object" }, "Counts: matched, replayed, failed"),
            ...errors(400, 503),
          },
        },
      },
      "/dlq/{message_id}": {
        get: {
          summary: "One dead letter with its original message",
          operationId: "getDeadLetter",
          parameters: [idParam],
          responses: { "200": json(ref("Status"), "The dead letter"), ...errors(400, 404, 503) },
        },
        delete: {
          summary: "Drop a dead letter for good",
          operationId: "dropDeadLetter",
          parameters: [idParam],
          responses: { "200": json({ type: "object" }, "Dropped"), ...errors(400, 404, 409, 503) },
        },
      },
      "/dlq/{message_id}/replay": {
        post: {
          summary: "Replay one dead letter",
          operationId: "replayDeadLetter",
          parameters: [idParam],
          responses: { "202": json(ref("Accepted"), "Re-queued"), ...errors(400, 404, 409, 503) },
        },
      },
      "/health": {
        get: {
          summary: "Liveness",
          operationId: "health",
          responses: {
            "200": json({ type: "object" }, "Alive"),
            "503": json({ type: "object" }, "Event loop stuck"),
          },
        },
      },
      "/ready": { get: { summary: "Readiness", operationId: "ready", responses: ready } },
      "/metrics": {
        get: {
          summary: "Prometheus metrics",
          operationId: "metrics",
          responses: plain("Prometheus text format"),
        },
      },
      "/stats": {
        get: {
          summary: "Per-entity, stream and consumer figures",
          description:
            "Rates (per_minute) count the last 60 seconds. accepted_by_this_process and its rate " +
            "are this process's own (each API replica counts its own: add them up); completed, retrying and " +
            "dlq are read from PostgreSQL and cover every worker. When NATS or PostgreSQL cannot be read, " +
            "their figures are null and `errors` names the source.",
          operationId: "stats",
          responses: { "200": json({ type: "object" }, "Figures, possibly partial (see errors)") },
        },
      },
      "/openapi.json": { get: { summary: "This document", operationId: "openapi", responses: openapi } },
      "/api-docs/openapi.json": {
        get: { summary: "This document (alias)", operationId: "openapiAlias", responses: openapi },
      },
      "/docs": { get: { summary: "Swagger UI", operationId: "docs", responses: html } },
      "/swagger-ui": { get: { summary: "Swagger UI (alias)", operationId: "docsAlias", responses: html } },
      "/docs/assets/swagger-ui.css": {
        get: { summary: "Swagger UI asset", operationId: "docsCss", responses: plain("CSS") },
      },
      "/docs/assets/swagger-ui-bundle.js": {
        get: { summary: "Swagger UI asset", operationId: "docsJs", responses: plain("JavaScript") },
      },
      "/docs/assets/init.js": {
        get: { summary: "Swagger UI asset", operationId: "docsInit", responses: plain("JavaScript") },
      },
      ...DASHBOARD_OPENAPI_PATHS,
    },
    components: { schemas },
  };
}

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nomnom API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div><script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script></body></html>`;
const INIT = `window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui" });`;

/**
 * Swagger UI's files (1.5 MB of text), loaded on the first request for them rather than at start: evaluating
 * them cost every process, workers included, tens of milliseconds before /ready. Text imports, so that they
 * travel inside a compiled binary.
 */
let swagger: Promise<{ css: string; js: string }> | undefined;
function swaggerAssets() {
  swagger ??= Promise.all([
    import("swagger-ui-dist/swagger-ui.css", { with: { type: "text" } }),
    import("swagger-ui-dist/swagger-ui-bundle.js", { with: { type: "text" } }),
  ]).then(([css, js]) => ({ css: css.default as string, js: js.default as string }));
  return swagger;
}

/** Routes of the document and of Swagger UI (assets served locally: it works offline). */
export function createDocsRoutes(document: Json): Hono {
  const app = new Hono();
  const immutable = "public, max-age=86400";
  app.get("/openapi.json", (c) => c.json(document));
  app.get("/api-docs/openapi.json", (c) => c.json(document));
  app.get("/docs", (c) => c.html(PAGE));
  app.get("/swagger-ui", (c) => c.html(PAGE));
  app.get(
    "/docs/assets/swagger-ui.css",
    async (c) =>
      c.body((await swaggerAssets()).css, 200, { "Content-Type": "text/css", "Cache-Control": immutable }),
  );
  app.get("/docs/assets/swagger-ui-bundle.js", async (c) =>
    c.body((await swaggerAssets()).js, 200, {
      "Content-Type": "text/javascript",
      "Cache-Control": immutable,
    }));
  app.get("/docs/assets/init.js", (c) => c.body(INIT, 200, { "Content-Type": "text/javascript" }));
  return app;
}
