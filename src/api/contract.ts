/**
 * The API contract as data: the zod schema of every request and response body the routes read or write. Their
 * TypeScript types are inferred from these schemas, the OpenAPI document (./openapi.ts) is generated from them,
 * and tests check real answers against that document, so the description and the behaviour cannot drift apart.
 */
import { z } from "zod";
import { STATUSES } from "../db/status.ts";
import { DLQ_PAGE } from "../lifecycle/dead_letters.ts";
import { MESSAGE_ID } from "../stream/message_id.ts";

/** The most message ids one POST /ingest/status asks about. */
export const STATUS_REQUEST_MAX_IDS = 1000;

/** The message id and acceptance time the documented examples show (a UUIDv7 of that time). */
export const EXAMPLE_ID = "0193a0c0-5d1e-7c2a-9f00-3b6d2e8a4c17";
export const EXAMPLE_AT = "2026-11-23T10:15:00.123Z";

/** Times nomnom writes itself (`Date#toISOString`, UTC). */
const Timestamp = z.iso.datetime();
/** Times PostgreSQL writes into a history (`now()` in JSON: microseconds and an offset). */
const DatabaseTimestamp = z.iso.datetime({ offset: true });

export const MessageId = z.string().regex(MESSAGE_ID).meta({
  description: "A UUID the API issued, or seq-<n> for a message put on the stream without one",
  examples: [EXAMPLE_ID],
});

export const ErrorBody = z.object({
  error: z.string().meta({ description: "What went wrong and what to do" }),
  details: z.unknown().meta({
    description: "Failing fields, the parameter or limit concerned; null if none",
  }),
}).meta({
  examples: [{ error: 'unknown entity "Oder"', details: { known_entities: "Customer, Order, Product" } }],
});
export type ErrorBody = z.output<typeof ErrorBody>;

export const FieldIssue = z.object({
  field: z.string().meta({ description: "Dotted path of the field; empty for the message as a whole" }),
  message: z.string(),
});

export const Accepted = z.object({
  message_id: MessageId,
  entity: z.string(),
  status: z.enum(STATUSES).meta({
    description: "accepted; for an idempotent repeat, the earlier message's status now",
  }),
  timestamp: Timestamp.meta({ description: "When the message was accepted" }),
  duplicate: z.literal(true).optional().meta({
    description: "Present when an earlier request with the same Idempotency-Key created this message (200)",
  }),
});
export type Accepted = z.output<typeof Accepted>;

const Line = z.int().min(1).meta({ description: "1-based line number in the request" });

export const AcceptedLine = Accepted.extend({ line: Line });
export const RejectedLine = z.object({
  line: Line,
  status: z.literal("rejected"),
  code: z.int().meta({
    description:
      "The status the line would get on its own: 400, 404, 413 (over --max-message-bytes), 422 or 503",
  }),
  errors: z.array(FieldIssue),
  retryable: z.literal(true).optional(),
  retry_after: z.int().min(1).optional().meta({ description: "Seconds to wait before retrying this line" }),
});
export type BatchLine = z.output<typeof AcceptedLine> | z.output<typeof RejectedLine>;

export const BatchResult = z.object({
  accepted: z.int().min(0),
  rejected: z.int().min(0),
  results: z.array(z.union([AcceptedLine, RejectedLine])),
});
export type BatchResult = z.output<typeof BatchResult>;

export const StatusEvent = z.object({
  status: z.enum(STATUSES),
  at: DatabaseTimestamp,
  attempts: z.int().min(0).optional(),
  error: z.string().optional(),
});

const statusFields = {
  message_id: MessageId,
  entity: z.string(),
  status: z.enum(STATUSES),
  received_at: Timestamp.nullable(),
  processed_at: Timestamp.nullable().meta({
    description: "When a worker (or a replay or drop) last changed it",
  }),
  attempts: z.int().min(0).meta({ description: "Deliveries so far" }),
  error: z.string().nullable().meta({
    description: "The last failure, with its SQLSTATE when there is one. With API keys, row values in it " +
      "(Failing row contains (…), Key (…)=(…)) are shown as … unless the key has the dlq scope",
  }),
  next_attempt_at: Timestamp.nullable().meta({ description: "When a retrying message is tried again" }),
};
const statusExample = {
  message_id: EXAMPLE_ID,
  entity: "Order",
  status: "completed",
  received_at: EXAMPLE_AT,
  processed_at: "2026-11-23T10:15:00.310Z",
  attempts: 1,
  error: null,
  next_attempt_at: null,
  history: [{ status: "completed", at: "2026-11-23T10:15:00.310512+00:00", attempts: 1 }],
};

export const Status = z.object({
  ...statusFields,
  history: z.array(StatusEvent).optional().meta({
    description: "Every status change, oldest first (absent while the message is still only in the stream)",
  }),
}).meta({ examples: [statusExample] });
export type Status = z.output<typeof Status>;

export const UnknownStatus = z.object({ message_id: z.string(), status: z.literal("unknown") });

export const StatusRequest = z.object({
  message_ids: z.array(MessageId).max(STATUS_REQUEST_MAX_IDS),
}).meta({ examples: [{ message_ids: [EXAMPLE_ID] }] });
export type StatusRequest = z.output<typeof StatusRequest>;

export const StatusList = z.object({ results: z.array(z.union([Status, UnknownStatus])) });
export type StatusList = z.output<typeof StatusList>;

export const DeadLetter = z.object({
  ...statusFields,
  history: z.array(StatusEvent),
  dead_at: Timestamp.nullable(),
  message: z.unknown().optional().meta({ description: "The original message, when it is JSON" }),
  raw: z.string().optional().meta({ description: "The original body, when it is not JSON" }),
  message_hidden: z.literal(true).optional().meta({
    description: "The original message is left out: showing it needs an API key with the dlq scope",
  }),
  dlq_seq: z.int().min(1).optional().meta({ description: "Sequence of the entry in the dead-letter stream" }),
}).meta({
  examples: [{
    ...statusExample,
    status: "dlq",
    error: '[22003] value "99999999999" is out of range for type integer',
    history: [{
      status: "dlq",
      at: "2026-11-23T10:15:00.310512+00:00",
      attempts: 1,
      error: '[22003] value "99999999999" is out of range for type integer',
    }],
    dead_at: "2026-11-23T10:15:00.310Z",
  }],
});
export type DeadLetter = z.output<typeof DeadLetter>;

export const DeadLetterPage = z.object({
  entries: z.array(DeadLetter),
  next_cursor: z.string().nullable().meta({
    description: "Pass as ?cursor= for the next page; null at the end",
  }),
});
export type DeadLetterPage = z.output<typeof DeadLetterPage>;

export const Replayed = z.object({
  message_id: MessageId,
  entity: z.string(),
  status: z.literal("accepted"),
});
export type Replayed = z.output<typeof Replayed>;

export const Dropped = z.object({ message_id: MessageId, status: z.literal("dropped") });
export type Dropped = z.output<typeof Dropped>;

export const ReplayReport = z.object({
  matched: z.int().min(0),
  replayed: z.int().min(0),
  failed: z.int().min(0),
  errors: z.array(z.string()).meta({ description: "The first 20 failures, each with its message id" }),
});
export type ReplayReport = z.output<typeof ReplayReport>;

/** The filter keys of the dead-letter queue, in the order messages name them. */
export const DLQ_FILTER_KEYS = ["entity", "error", "since", "until"] as const;

const filterText = (name: string, description: string) =>
  z.string({ error: `"${name}" must be a string` }).optional().meta({ description });
export const DlqFilter = z.object({
  entity: filterText("entity", "Entity name, any case"),
  error: filterText("error", "Text in the error, matched literally"),
  since: filterText("since", "Dead-lettered at or after (ISO 8601 date or date-time)"),
  until: filterText("until", "Dead-lettered before (ISO 8601 date or date-time)"),
});
export type DlqFilter = z.output<typeof DlqFilter>;

/** GET /dlq's query: a filter and a page. */
export const DlqListQuery = DlqFilter.extend({
  limit: z.coerce.number({ error: `"limit" must be a whole number from 1 to ${DLQ_PAGE.max}` })
    .int({ error: `"limit" must be a whole number from 1 to ${DLQ_PAGE.max}` })
    .min(1, { error: `"limit" must be a whole number from 1 to ${DLQ_PAGE.max}` })
    .max(DLQ_PAGE.max, { error: `"limit" must be a whole number from 1 to ${DLQ_PAGE.max}` })
    .optional().meta({ description: `Entries per page (default ${DLQ_PAGE.default})` }),
  cursor: z.string().optional().meta({ description: "next_cursor of the previous page" }),
});

/** POST /dlq/replay's body (and query): at least one filter, or all: true. Unknown keys are refused. */
export const ReplayRequest = z.strictObject({
  ...DlqFilter.shape,
  all: z.literal(true, { error: '"all" can only be true' }).optional().meta({
    description: "Replay every dead letter (when no filter is given)",
  }),
}).meta({
  description: "At least one filter (here or in the query), or all: true to replay everything",
  examples: [{ entity: "Order", error: "out of range" }],
});
export type ReplayRequest = z.output<typeof ReplayRequest>;

/** One readiness check. */
export const Check = z.object({ name: z.string(), ok: z.boolean(), detail: z.string().optional() });
export type Check = z.output<typeof Check>;

export const Health = z.object({
  status: z.enum(["ok", "event loop stuck"]),
  event_loop_lag_ms: z.int().min(0),
});
export type Health = z.output<typeof Health>;
export const Ready = z.object({ status: z.enum(["ready", "not ready"]), checks: z.array(Check) });
export type Ready = z.output<typeof Ready>;

/** Request bodies, by their OpenAPI component name (described as clients send them). */
export const REQUEST_SCHEMAS = { MessageId, StatusRequest, ReplayRequest } as const;

/** Response bodies, by their OpenAPI component name (described as the API writes them). */
/** A page of the dashboard's data view (src/dashboard/rows.ts): each value PostgreSQL's text of it, or null. */
export const DashboardRows = z.object({
  entity: z.string(),
  table: z.string(),
  columns: z.array(z.string()),
  rows: z.array(z.array(z.string().nullable())).meta({ description: "Per row, its values in column order" }),
  root_keys: z.array(z.string()).optional().meta({
    description: "Root entities with derived ones: per row, the root_key that selects its derived rows",
  }),
  next_before: z.string().nullable().meta({ description: "Pass as before= for the next, older page" }),
});

/** The entities and tables the dashboard lays out. */
export const DashboardEntities = z.object({
  namespace: z.string(),
  version: z.string(),
  entities: z.array(z.object({
    name: z.string(),
    kind: z.enum(["root", "derived", "reference"]),
    doc: z.string().nullable(),
    root: z.string(),
    ingestible: z.boolean(),
    table: z.string().nullable(),
    columns: z.array(z.string()),
    key: z.array(z.string()),
    derived: z.array(z.string()).meta({
      description: "Stored derived entities whose rows carry its root_key",
    }),
  })),
});

export const RESPONSE_SCHEMAS = {
  MessageId,
  Error: ErrorBody,
  FieldIssue,
  Accepted,
  BatchResult,
  StatusEvent,
  Status,
  UnknownStatus,
  StatusList,
  DeadLetter,
  DeadLetterPage,
  Replayed,
  Dropped,
  ReplayReport,
  Check,
  Health,
  Ready,
  DashboardRows,
  DashboardEntities,
} as const;

/**
 * The contract's schemas as OpenAPI components. `io` says which side of a schema is described: what clients
 * send (input: defaults and coercions not yet applied) or what the API writes (output).
 */
export function createContractComponents(
  schemas: Record<string, z.ZodType>,
  io: "input" | "output",
): Record<string, unknown> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(schemas)) registry.add(schema, { id });
  const generated = z.toJSONSchema(registry, {
    target: "draft-2020-12",
    io,
    uri: (id) => `#/components/schemas/${id}`,
  }).schemas;
  // Each comes as a document of its own ($schema, $id); inside one OpenAPI document they are plain schemas.
  return Object.fromEntries(
    Object.entries(generated).map(([id, { $schema: _, $id: __, ...schema }]) => [id, schema]),
  );
}

/** GET /dlq's query parameters, from the contract's DlqListQuery. */
export function createDlqListParameters(): Record<string, unknown>[] {
  const query = z.toJSONSchema(DlqListQuery, { target: "draft-2020-12", io: "input" }) as {
    properties: Record<string, Record<string, unknown>>;
  };
  return Object.entries(query.properties).map(([name, { description, ...schema }]) => ({
    name,
    in: "query",
    required: false,
    description,
    schema,
  }));
}
