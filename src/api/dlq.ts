/**
 * Dead-letter routes:
 *   GET    /dlq?entity=&error=&since=&until=&limit=&cursor=   paginated list (next_cursor)
 *   GET    /dlq/{message_id}                                  status, history, error and the original message
 *   POST   /dlq/{message_id}/replay                           re-publish it (new dedup id), status → accepted
 *   POST   /dlq/replay                                        replay every match of {entity, error, since, until},
 *                                                             or everything with {"all": true}
 *   DELETE /dlq/{message_id}                                  drop it for good (status → dropped)
 * An unknown id is a 404; a known one that is not in the DLQ (replayed or dropped, maybe concurrently) a 409
 * (DlqConflictError), a bad filter a 400 (DlqFilterError): both answered by the table in http_error.ts. Shapes:
 * ./contract.ts (DlqListQuery, ReplayRequest, DeadLetter, DeadLetterPage, Replayed, ReplayReport, Dropped).
 * A reader without the `dlq` scope (./access.ts `seesFullErrors`) sees errors without their row values, and an
 * entry without its original message; `?error=` then matches only the text it is shown.
 */
import { Hono } from "hono";
import type { z } from "zod";
import type { DeadLetters } from "../lifecycle/dead_letters.ts";
import { withoutValues } from "../lifecycle/status.ts";
import { seesFullErrors } from "./access.ts";
import { isMessageId } from "../stream/message_id.ts";
import {
  type DeadLetter,
  type DeadLetterPage,
  DLQ_FILTER_KEYS,
  type DlqFilter,
  DlqListQuery,
  type Dropped,
  type Replayed,
  type ReplayReport,
  ReplayRequest,
} from "./contract.ts";
import { bodyReadError, HttpError } from "./http_error.ts";

const WHAT_REPLAY_TAKES = 'a filter {"entity", "error", "since", "until"} or {"all": true}';

/** A request that does not match its contract schema, as a 400 naming the key (the schemas' own messages). */
function invalid(issue: z.core.$ZodIssue): HttpError {
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys;
    return new HttpError(
      400,
      `unknown ${keys.length === 1 ? "key" : "keys"} ${keys.map((k) => `"${k}"`).join(", ")}: ` +
        `a replay takes ${DLQ_FILTER_KEYS.map((k) => `"${k}"`).join(", ")} or "all"`,
      keys.map((k) => ({ field: k, message: "unknown key" })),
    );
  }
  return new HttpError(400, issue.message, { parameter: String(issue.path[0]) });
}

export function createDlqRoutes(deadLetters: DeadLetters): Hono {
  const app = new Hono();
  const checkId = (id: string) => {
    if (!isMessageId(id)) throw new HttpError(400, `"${id}" is not a message id (a UUID, or seq-<n>)`);
    return id;
  };
  const notInDlq = (id: string) => new HttpError(404, `no message with id ${id} was ever dead-lettered`);

  app.get("/", async (c) => {
    const query = DlqListQuery.safeParse(c.req.query());
    if (!query.success) throw invalid(query.error.issues[0]);
    const { limit, cursor, ...filter } = query.data;
    const full = seesFullErrors(c);
    const page: DeadLetterPage = await deadLetters.list(filter, { limit, cursor, hideValues: !full });
    return c.json(full ? page : { ...page, entries: page.entries.map(withoutValues) });
  });
  app.post("/replay", async (c) => {
    const text = await c.req.text().catch((error) => Promise.reject(bodyReadError(error)));
    let body: unknown;
    try {
      body = text.trim() === "" ? {} : JSON.parse(text);
    } catch {
      throw new HttpError(400, `malformed JSON: send ${WHAT_REPLAY_TAKES}`);
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new HttpError(400, `send a JSON object: ${WHAT_REPLAY_TAKES}`);
    }
    const requested: Record<string, unknown> = { ...c.req.query(), ...body };
    // A query string has no booleans: ?all=true means all: true.
    if (requested.all === "true") requested.all = true;
    const parsed = ReplayRequest.safeParse(requested);
    if (!parsed.success) throw invalid(parsed.error.issues[0]);
    const { all, ...given } = parsed.data;
    const filter: DlqFilter = {};
    for (const key of DLQ_FILTER_KEYS) if (given[key]) filter[key] = given[key];
    if (!all && Object.keys(filter).length === 0) {
      throw new HttpError(
        400,
        'replay what? send a filter {"entity", "error", "since", "until"}, or {"all": true} to replay everything',
      );
    }
    const report: ReplayReport = await deadLetters.replayMatching(filter);
    return c.json(report);
  });
  app.get("/:message_id", async (c) => {
    const id = checkId(c.req.param("message_id"));
    const entry: DeadLetter | undefined = await deadLetters.show(id);
    if (!entry) throw new HttpError(404, `message ${id} is not in the dead-letter queue`);
    if (seesFullErrors(c)) return c.json(entry);
    const { message: _, raw: __, ...rest } = withoutValues(entry);
    return c.json({ ...rest, message_hidden: true } satisfies DeadLetter);
  });
  app.post("/:message_id/replay", async (c) => {
    const id = checkId(c.req.param("message_id"));
    const replayed: Replayed | undefined = await deadLetters.replay(id);
    if (!replayed) throw notInDlq(id);
    return c.json(replayed, 202);
  });
  app.delete("/:message_id", async (c) => {
    const id = checkId(c.req.param("message_id"));
    if (!await deadLetters.drop(id)) throw notInDlq(id);
    const dropped: Dropped = { message_id: id, status: "dropped" };
    return c.json(dropped);
  });
  return app;
}
