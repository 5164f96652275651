/**
 * The OpenAPI 3.1 document, generated (pure) and never written by hand: request and response bodies from the
 * contract's zod schemas (./contract.ts), each entity's message from the zod schema that validates it, with an
 * example from the registry's sample generator. One path per entity, so Swagger UI's "Try it out" posts a valid
 * message of the entity chosen. Served with Swagger UI by ./docs.ts. Who may call each operation is not written
 * here either: `security` is taken from the route→scope table (./access.ts `ROUTE_ACCESS`), and an operation the
 * table does not know is an error, so the document and the access rule cannot disagree.
 */
import { z } from "zod";
import { accessFor } from "./access.ts";
import { DASHBOARD_OPENAPI_PATHS } from "../dashboard/routes.ts";
import { createSampleMessage } from "../registry/sample.ts";
import type { Registry } from "../registry/types.ts";
import {
  type Accepted,
  createContractComponents,
  createDlqListParameters,
  EXAMPLE_AT,
  EXAMPLE_ID,
  REQUEST_SCHEMAS,
  RESPONSE_SCHEMAS,
  STATUS_REQUEST_MAX_IDS,
} from "./contract.ts";

type Json = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json, description: string, example?: unknown) => ({
  description,
  content: { "application/json": example === undefined ? { schema } : { schema, example } },
});
/** An operation: its tag (Swagger UI's group), unique id and one-line summary, then the rest. */
const op = (tag: string, operationId: string, summary: string, rest: Json) => ({
  summary,
  operationId,
  tags: [tag],
  ...rest,
});
/** A 200 answer that is text of a type. */
const text = (type: string, description: string) => ({
  "200": { description, content: { [type]: { schema: { type: "string" } } } },
});
/** Every 503 says when to come back. */
const retryAfter = {
  "Retry-After": {
    description: "Seconds to wait before retrying",
    schema: { type: "integer", minimum: 1 },
  },
};
const ERROR_TEXT: Record<number, string> = {
  400: "Malformed request (JSON, body cut short, id or parameter; details.parameter names a bad parameter)",
  404: "Unknown entity, message or route",
  409: "The message is not in the dead-letter queue any more (replayed or dropped)",
  413: "Request body, or a message, larger than the limit (named in the answer; with --rate-limit also a " +
    "batch of more lines than --rate-limit-burst)",
  415:
    "Content-Type missing or not JSON (NDJSON for batches): every POST and DELETE must name one, body or not",
  422: "The request does not match its schema (every failing field is named), or its Idempotency-Key was " +
    "already used for another body (details names Idempotency-Key)",
  429:
    "Over the rate limit (--rate-limit) of this API key or client address, counted in messages (a batch: " +
    "its lines, refused whole before any is published): retry after Retry-After seconds",
  503: "Not available now (NATS or PostgreSQL unreachable, stream full, no ack in time): retry after " +
    "Retry-After seconds",
};
/** The fields of draft-ietf-httpapi-ratelimit-headers-12 that every counted answer carries with --rate-limit. */
const rateLimitHeaders = {
  "RateLimit-Policy": {
    description: 'The policy: `"messages";q=<burst>;w=<seconds to refill it>`',
    schema: { type: "string" },
  },
  "RateLimit": {
    description: 'What is left: `"messages";r=<messages left>;t=<seconds until the bucket is full>`',
    schema: { type: "string" },
  },
};
const errors = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((code) => [
      String(code),
      code === 503
        ? { ...json(ref("Error"), ERROR_TEXT[code]), headers: retryAfter }
        : code === 429
        ? { ...json(ref("Error"), ERROR_TEXT[code]), headers: { ...retryAfter, ...rateLimitHeaders } }
        : json(ref("Error"), ERROR_TEXT[code]),
    ]),
  );
const idParam = {
  name: "message_id",
  in: "path",
  required: true,
  schema: ref("MessageId"),
};
const idempotencyHeader = {
  name: "Idempotency-Key",
  in: "header",
  required: false,
  description:
    "A repeat with the same key and the same body (byte for byte) returns the original message id " +
    "with duplicate: true (200); the same key with another body is refused with 422. In a batch, line n uses " +
    "the key <key>:<n>.",
  schema: { type: "string", minLength: 1, maxLength: 255, pattern: "^[\\x21-\\x7e]+$" },
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

/** The two ways to send a key (./access.ts reads both); each operation's `security` lists them. */
const SECURITY_SCHEMES = {
  bearerAuth: {
    type: "http",
    scheme: "bearer",
    description: "An API key from --api-keys-file, as Authorization: Bearer <key>",
  },
  apiKeyAuth: {
    type: "apiKey",
    in: "header",
    name: "X-API-Key",
    description: "The same API key, as X-API-Key: <key>",
  },
};

/**
 * Set each operation's `security` from ROUTE_ACCESS: `[]` for a public route, else the scope, under either
 * scheme (OpenAPI 3.1 allows role names in a non-OAuth requirement). An ingest path naming an entity also takes
 * `ingest:<Entity>` (alternatives are separate requirements). Secured operations document 401 and 403.
 */
function addSecurity(paths: Record<string, Record<string, Json>>, metricsPublic: boolean): void {
  for (const [path, operations] of Object.entries(paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const found = accessFor(method.toUpperCase(), path.replace(/\{\w+\}/g, "x"));
      if (!found) {
        throw new Error(`${method.toUpperCase()} ${path} is documented but has no row in ROUTE_ACCESS`);
      }
      const need = found.row.need === "metrics" ? (metricsPublic ? "public" : "read") : found.row.need;
      if (need === "public") {
        operation.security = [];
        continue;
      }
      const scopes = need === "ingest" && found.entity ? ["ingest", `ingest:${found.entity}`] : [need];
      operation.security = scopes.flatMap((scope) => [{ bearerAuth: [scope] }, { apiKeyAuth: [scope] }]);
      const needs = `Needs an API key with the scope ${scopes.map((s) => `\`${s}\``).join(" or ")}` +
        " (when the server has --api-keys-file).";
      operation.description = operation.description ? `${operation.description} ${needs}` : needs;
      operation.responses = {
        ...(operation.responses as Json),
        "401": json(ref("Error"), "No API key, or not a valid one (WWW-Authenticate: Bearer)"),
        "403": json(ref("Error"), "The API key lacks the scope (details.missing_scope names it)"),
      };
    }
  }
}

/** Build the document (pure). `metricsPublic`: whether /metrics answers without a key (--metrics-public). */
export function createOpenApiDocument(
  registry: Registry,
  version: string,
  access: { metricsPublic?: boolean } = {},
): Json {
  const schemas: Json = {
    ...createContractComponents(REQUEST_SCHEMAS, "input"),
    ...createContractComponents(RESPONSE_SCHEMAS, "output"),
  };
  const entities = registry.ingestible.map((entity) => {
    // An entity may be called like one of nomnom's own schemas (Status, Error): its component then says so.
    const component = entity.name in schemas ? `${entity.name}Message` : entity.name;
    schemas[component] = entitySchema(entity.messageSchema!, component, schemas);
    return { name: entity.name, component, sample: createSampleMessage(registry, entity) };
  });
  const names = entities.map((e) => e.name);

  const accepted = (entity: string) => {
    const example: Accepted = {
      message_id: EXAMPLE_ID,
      entity,
      status: "accepted",
      timestamp: EXAMPLE_AT,
    };
    return {
      "202": json(ref("Accepted"), "Accepted and stored in JetStream", example),
      "200": json(ref("Accepted"), "Idempotent repeat: the earlier message (duplicate: true)", {
        ...example,
        status: "completed",
        duplicate: true,
      }),
    };
  };
  const batchResult = (entity: string) => ({
    "202": json(ref("BatchResult"), "Per-line results; valid lines accepted", {
      accepted: 1,
      rejected: 1,
      results: [
        {
          line: 1,
          message_id: EXAMPLE_ID,
          entity,
          status: "accepted",
          timestamp: EXAMPLE_AT,
        },
        {
          line: 2,
          status: "rejected",
          code: 400,
          errors: [{ field: "", message: "malformed JSON in line 2" }],
        },
      ],
    }),
    "422": json(ref("BatchResult"), "No line was valid"),
    "503": {
      ...json(ref("BatchResult"), "No line was accepted and some may be retried (each says retry_after)"),
      headers: retryAfter,
    },
  });
  const ndjson = (example?: string) => ({
    required: true,
    content: {
      "application/x-ndjson": {
        schema: { type: "string", description: "one JSON message per line" },
        ...(example === undefined ? {} : { example }),
      },
    },
  });

  const compatParameters = [
    { name: "entity", in: "query", required: false, schema: { type: "string", enum: names } },
    { name: "X-Entity-Type", in: "header", required: false, schema: { type: "string", enum: names } },
    idempotencyHeader,
  ];
  const body = (schema: string, required = true) => ({
    required,
    content: { "application/json": { schema: ref(schema) } },
  });
  const paths: Json = {};
  for (const e of entities) {
    paths[`/ingest/message/${e.name}`] = {
      post: op("ingest", `ingest${e.name}`, `Ingest one ${e.name}`, {
        parameters: [idempotencyHeader],
        requestBody: {
          required: true,
          content: { "application/json": { schema: ref(e.component), example: e.sample } },
        },
        responses: { ...accepted(e.name), ...errors(400, 413, 415, 422, 503) },
      }),
    };
    paths[`/ingest/batch/${e.name}`] = {
      post: op("ingest", `ingestBatch${e.name}`, `Ingest NDJSON, one ${e.name} per line`, {
        parameters: [idempotencyHeader],
        requestBody: ndjson(`${JSON.stringify(e.sample)}\n${JSON.stringify(e.sample)}\n`),
        responses: { ...batchResult(e.name), ...errors(400, 413, 415) },
      }),
    };
  }
  const compatBody = {
    // anyOf, not oneOf: entity schemas may overlap (a message valid for two entities is still valid).
    anyOf: [
      ...entities.map((e) => ref(e.component)),
      {
        type: "object",
        required: ["body_base64"],
        properties: { body_base64: { type: "string" }, entity_type: { type: "string" } },
      },
    ],
  };
  const mixedExample = entities.map((e) => JSON.stringify({ entity_type: e.name, ...e.sample })).join("\n");
  Object.assign(paths, {
    "/ingest/message": {
      post: op(
        "ingest",
        "ingestMessageCompat",
        "Ingest one message, entity given by ?entity=, X-Entity-Type or entity_type (compatibility)",
        {
          parameters: compatParameters,
          requestBody: { required: true, content: { "application/json": { schema: compatBody } } },
          responses: { ...accepted(names[0] ?? "Order"), ...errors(400, 404, 413, 415, 422, 503) },
        },
      ),
    },
    "/ingest/batch": {
      post: op("ingest", "ingestBatchMixed", "Ingest NDJSON where each line names its entity_type", {
        parameters: compatParameters,
        requestBody: ndjson(mixedExample + "\n"),
        responses: { ...batchResult(names[0] ?? "Order"), ...errors(400, 404, 413, 415) },
      }),
    },
    "/ingest/status/{message_id}": {
      get: op("status", "getStatus", "Where a message is and why", {
        parameters: [idParam],
        responses: { "200": json(ref("Status"), "The message's status"), ...errors(400, 404, 503) },
      }),
    },
    "/ingest/status": {
      post: op("status", "getStatuses", `Statuses of up to ${STATUS_REQUEST_MAX_IDS} messages`, {
        requestBody: body("StatusRequest"),
        responses: {
          "200": json(ref("StatusList"), "Statuses, in the order asked; status unknown for ids never issued"),
          ...errors(400, 413, 415, 422, 503),
        },
      }),
    },
    "/dlq": {
      get: op("dead letters", "listDeadLetters", "Dead letters, oldest first", {
        parameters: createDlqListParameters(),
        responses: { "200": json(ref("DeadLetterPage"), "A page"), ...errors(400, 503) },
      }),
    },
    "/dlq/replay": {
      post: op(
        "dead letters",
        "replayDeadLetters",
        "Replay every dead letter matching a filter (or all: true)",
        {
          requestBody: body("ReplayRequest", false),
          responses: {
            "200": json(ref("ReplayReport"), "Counts: matched, replayed, failed"),
            ...errors(400, 413, 415, 503),
          },
        },
      ),
    },
    "/dlq/{message_id}": {
      get: op("dead letters", "getDeadLetter", "One dead letter with its original message", {
        parameters: [idParam],
        responses: { "200": json(ref("DeadLetter"), "The dead letter"), ...errors(400, 404, 503) },
      }),
      delete: op("dead letters", "dropDeadLetter", "Drop a dead letter for good", {
        parameters: [idParam],
        responses: { "200": json(ref("Dropped"), "Dropped"), ...errors(400, 404, 409, 503) },
      }),
    },
    "/dlq/{message_id}/replay": {
      post: op("dead letters", "replayDeadLetter", "Replay one dead letter", {
        parameters: [idParam],
        responses: { "202": json(ref("Replayed"), "Re-queued"), ...errors(400, 404, 409, 503) },
      }),
    },
    "/health": {
      get: op("operations", "health", "Liveness", {
        responses: { "200": json(ref("Health"), "Alive"), "503": json(ref("Health"), "Event loop stuck") },
      }),
    },
    "/ready": {
      get: op("operations", "ready", "Readiness", {
        responses: {
          "200": json(ref("Ready"), "Ready"),
          "503": json(ref("Ready"), "Not ready: failing checks named"),
        },
      }),
    },
    "/metrics": {
      get: op("operations", "metrics", "Prometheus metrics", {
        responses: text("text/plain", "Prometheus text format"),
      }),
    },
    "/stats": {
      get: op("operations", "stats", "Per-entity, stream and consumer figures", {
        description: "Rates (per_minute) count the last 60 seconds. accepted_by_this_process and its rate " +
          "are this process's own (each API replica counts its own: add them up); completed, retrying and " +
          "dlq are read from PostgreSQL and cover every worker. When NATS or PostgreSQL cannot be read, " +
          "their figures are null and `errors` names the source. `schema_mismatches` lists the entities whose " +
          "messages are held because their table does not match the entity (entity, since, problems).",
        responses: { "200": json({ type: "object" }, "Figures, possibly partial (see errors)") },
      }),
    },
    "/openapi.json": {
      get: op("documentation", "openapi", "This document", {
        responses: { "200": json({ type: "object" }, "This document") },
      }),
    },
    "/api-docs/openapi.json": {
      get: op("documentation", "openapiAlias", "This document (alias)", {
        responses: { "200": json({ type: "object" }, "This document") },
      }),
    },
    "/": {
      get: op(
        "documentation",
        "index",
        "Links to the docs, the OpenAPI document, ingestion, status and ops",
        {
          responses: { "200": json({ type: "object" }, "nomnom's name, version and links") },
        },
      ),
    },
    "/docs": {
      get: op("documentation", "docs", "Swagger UI", { responses: text("text/html", "Swagger UI") }),
    },
    "/swagger-ui": {
      get: op("documentation", "docsAlias", "Swagger UI (alias)", {
        responses: text("text/html", "Swagger UI"),
      }),
    },
  });

  const all = structuredClone({ ...paths, ...DASHBOARD_OPENAPI_PATHS }) as Record<
    string,
    Record<string, Json>
  >;
  for (const [path, operations] of Object.entries(all)) {
    for (const [method, operation] of Object.entries(operations)) {
      const need = accessFor(method.toUpperCase(), path.replace(/\{\w+\}/g, "x"))?.row.need;
      // The one content-type rule and the rate limit (src/api/app.ts) apply to every route they cover.
      const extra = [
        ...(method === "post" || method === "delete" ? [415] : []),
        ...(need === "public" || need === "metrics" ? [] : [429]),
      ];
      operation.responses = { ...(operation.responses as Json), ...errors(...extra) };
    }
  }
  addSecurity(all, access.metricsPublic ?? false);
  return {
    openapi: "3.1.0",
    info: {
      title: "nomnom",
      version,
      description:
        "Ingest messages of the declared entities; follow them to PostgreSQL or the dead-letter queue. " +
        "With --api-keys-file, every operation but the public ones (security: []) needs an API key with the " +
        "scope it names (Authorize above); without it the server checks no key.",
    },
    paths: all,
    components: { schemas, securitySchemes: SECURITY_SCHEMES },
  };
}
