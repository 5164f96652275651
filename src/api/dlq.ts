/**
 * Dead-letter routes:
 *   GET    /dlq?entity=&error=&since=&until=&limit=&cursor=   paginated list (next_cursor)
 *   GET    /dlq/{message_id}                                  status, history, error and the original message
 *   POST   /dlq/{message_id}/replay                           re-publish it (new dedup id), status → accepted
 *   POST   /dlq/replay                                        replay every match of {entity, error, since, until},
 *                                                             or everything with {"all": true}
 *   DELETE /dlq/{message_id}                                  drop it for good (status → dropped)
 * An unknown id is a 404; a known one that is not in the DLQ (replayed or dropped, maybe concurrently) a 409
 * (DlqConflictError), a bad filter a 400 (DlqFilterError): both answered by the table in http_error.ts.
 */
import { Hono } from "hono";
import { type DeadLetters, DLQ_PAGE, type DlqFilter } from "../lifecycle/dead_letters.ts";
import { isMessageId } from "../stream/message_id.ts";
import { bodyReadError, HttpError } from "./http_error.ts";

const FILTER_KEYS = ["entity", "error", "since", "until"] as const;
const REPLAY_KEYS = new Set<string>([...FILTER_KEYS, "all"]);

export function createDlqRoutes(deadLetters: DeadLetters): Hono {
  const app = new Hono();
  const checkId = (id: string) => {
    if (!isMessageId(id)) throw new HttpError(400, `"${id}" is not a message id (a UUID, or seq-<n>)`);
    return id;
  };
  const notInDlq = (id: string) => new HttpError(404, `no message with id ${id} was ever dead-lettered`);

  app.get("/", async (c) => {
    const q = c.req.query();
    const limit = q.limit === undefined ? undefined : Number(q.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > DLQ_PAGE.max)) {
      throw new HttpError(400, `"limit" must be a whole number from 1 to ${DLQ_PAGE.max}`);
    }
    const filter: DlqFilter = { entity: q.entity, error: q.error, since: q.since, until: q.until };
    return c.json(await deadLetters.list(filter, { limit, cursor: q.cursor }));
  });
  app.post("/replay", async (c) => {
    const text = await c.req.text().catch((error) => Promise.reject(bodyReadError(error)));
    let body: unknown;
    try {
      body = text.trim() === "" ? {} : JSON.parse(text);
    } catch {
      throw new HttpError(
        400,
        'malformed JSON: send a filter {"entity", "error", "since", "until"} or {"all": true}',
      );
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new HttpError(
        400,
        'send a JSON object: a filter {"entity", "error", "since", "until"} or {"all": true}',
      );
    }
    const requested = { ...c.req.query(), ...body } as Record<string, unknown>;
    const unknown = Object.keys(requested).filter((k) => !REPLAY_KEYS.has(k));
    if (unknown.length > 0) {
      throw new HttpError(
        400,
        `unknown ${unknown.length === 1 ? "key" : "keys"} ${unknown.map((k) => `"${k}"`).join(", ")}: ` +
          `a replay takes "entity", "error", "since", "until" or "all"`,
        unknown.map((k) => ({ field: k, message: "unknown key" })),
      );
    }
    const all = requested.all === true || requested.all === "true";
    if (requested.all !== undefined && !all) throw new HttpError(400, '"all" can only be true');
    const filter: DlqFilter = {};
    for (const key of FILTER_KEYS) {
      const value = requested[key];
      if (value !== undefined && typeof value !== "string") {
        throw new HttpError(400, `"${key}" must be a string`, { parameter: key });
      }
      if (value) filter[key] = value;
    }
    if (!all && Object.keys(filter).length === 0) {
      throw new HttpError(
        400,
        'replay what? send a filter {"entity", "error", "since", "until"}, or {"all": true} to replay everything',
      );
    }
    return c.json(await deadLetters.replayMatching(filter));
  });
  app.get("/:message_id", async (c) => {
    const id = checkId(c.req.param("message_id"));
    const entry = await deadLetters.show(id);
    if (!entry) throw new HttpError(404, `message ${id} is not in the dead-letter queue`);
    return c.json(entry);
  });
  app.post("/:message_id/replay", async (c) => {
    const id = checkId(c.req.param("message_id"));
    const replayed = await deadLetters.replay(id);
    if (!replayed) throw notInDlq(id);
    return c.json(replayed, 202);
  });
  app.delete("/:message_id", async (c) => {
    const id = checkId(c.req.param("message_id"));
    if (!await deadLetters.drop(id)) throw notInDlq(id);
    return c.json({ message_id: id, status: "dropped" });
  });
  return app;
}
