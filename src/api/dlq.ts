/**
 * Dead-letter routes:
 *   GET    /dlq?entity=&error=&since=&until=&limit=&cursor=   paginated list (next_cursor)
 *   GET    /dlq/{message_id}                                  status, history, error and the original message
 *   POST   /dlq/{message_id}/replay                           re-publish it (new dedup id), status → accepted
 *   POST   /dlq/replay                                        replay every match of {entity, error, since, until}
 *   DELETE /dlq/{message_id}                                  drop it for good (status → dropped)
 */
import { Hono } from "hono";
import { type DeadLetters, type DlqFilter, DlqFilterError } from "../lifecycle/dead_letters.ts";
import { isMessageId } from "../lifecycle/status.ts";
import { HttpError } from "./http_error.ts";

export function createDlqRoutes(deadLetters: DeadLetters): Hono {
  const app = new Hono();
  const checkId = (id: string) => {
    if (!isMessageId(id)) throw new HttpError(400, `"${id}" is not a message id (a UUID)`);
    return id;
  };
  const filtered = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      if (error instanceof DlqFilterError) throw new HttpError(400, error.message);
      throw error;
    }
  };

  app.get("/", async (c) => {
    const q = c.req.query();
    const limit = q.limit === undefined ? undefined : Number(q.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 1000)) {
      throw new HttpError(400, '"limit" must be a whole number from 1 to 1000');
    }
    const filter: DlqFilter = { entity: q.entity, error: q.error, since: q.since, until: q.until };
    return c.json(await filtered(() => deadLetters.list(filter, { limit, cursor: q.cursor })));
  });
  app.post("/replay", async (c) => {
    const text = await c.req.text();
    let filter: DlqFilter = {};
    try {
      filter = text.trim() === "" ? {} : JSON.parse(text);
    } catch {
      throw new HttpError(
        400,
        'malformed JSON: send a filter {"entity", "error", "since", "until"} or nothing',
      );
    }
    const q = c.req.query();
    const merged = { entity: q.entity, error: q.error, since: q.since, until: q.until, ...filter };
    return c.json(await filtered(() => deadLetters.replayMatching(merged)));
  });
  app.get("/:message_id", async (c) => {
    const entry = await deadLetters.show(checkId(c.req.param("message_id")));
    if (!entry) {
      throw new HttpError(404, `message ${c.req.param("message_id")} is not in the dead-letter queue`);
    }
    return c.json(entry);
  });
  app.post("/:message_id/replay", async (c) => {
    const replayed = await deadLetters.replay(checkId(c.req.param("message_id")));
    if (!replayed) {
      throw new HttpError(404, `message ${c.req.param("message_id")} is not in the dead-letter queue`);
    }
    return c.json(replayed, 202);
  });
  app.delete("/:message_id", async (c) => {
    if (!await deadLetters.drop(checkId(c.req.param("message_id")))) {
      throw new HttpError(404, `message ${c.req.param("message_id")} is not in the dead-letter queue`);
    }
    return c.json({ message_id: c.req.param("message_id"), status: "dropped" });
  });
  return app;
}
