/**
 * Status routes:
 *   GET  /ingest/status/{message_id}   200 {message_id, entity, status, received_at, processed_at, attempts, error,
 *                                      next_attempt_at, history}; 404 never issued; 400 not a message id
 *   POST /ingest/status                {"message_ids": [...]} → {results: [status or {message_id, status: "unknown"}]}
 * Shapes: ./contract.ts (Status, StatusRequest, StatusList). Errors lose their row values unless the caller is the
 * dead-letter admin (./access.ts `seesFullErrors`).
 */
import { Hono } from "hono";
import { type StatusFinder, withoutValues } from "../lifecycle/status.ts";
import { seesFullErrors } from "./access.ts";
import { isMessageId } from "../stream/message_id.ts";
import { type Status, STATUS_REQUEST_MAX_IDS, type StatusList } from "./contract.ts";
import { HttpError } from "./http_error.ts";

export function createStatusRoutes(statuses: StatusFinder): Hono {
  const app = new Hono();
  app.get("/:message_id", async (c) => {
    const id = c.req.param("message_id");
    if (!isMessageId(id)) throw new HttpError(400, `"${id}" is not a message id (a UUID, or seq-<n>)`);
    const found = (await statuses.find([id])).get(id);
    if (!found) throw new HttpError(404, `no message with id ${id} was ever accepted`);
    return c.json((seesFullErrors(c) ? found : withoutValues(found)) satisfies Status);
  });
  app.post("/", async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new HttpError(400, 'malformed JSON: send {"message_ids": ["...", ...]}');
    }
    const ids = (body as { message_ids?: unknown })?.message_ids;
    if (!Array.isArray(ids) || ids.some((id) => typeof id !== "string")) {
      throw new HttpError(422, "message_ids must be a list of message ids", [{
        field: "message_ids",
        message: "required",
      }]);
    }
    if (ids.length > STATUS_REQUEST_MAX_IDS) {
      throw new HttpError(422, `at most ${STATUS_REQUEST_MAX_IDS} message ids per request`);
    }
    const bad = ids.filter((id) => !isMessageId(id));
    if (bad.length > 0) {
      throw new HttpError(
        400,
        "not message ids",
        bad.slice(0, 20).map((id) => ({ field: "message_ids", message: id })),
      );
    }
    const found = await statuses.find(ids);
    const full = seesFullErrors(c);
    const list: StatusList = {
      results: ids.map((id) => {
        const s = found.get(id);
        return s ? (full ? s : withoutValues(s)) : { message_id: id, status: "unknown" as const };
      }),
    };
    return c.json(list);
  });
  return app;
}
