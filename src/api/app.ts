/**
 * The API's Hono app: ingest routes plus health and readiness. Built from its dependencies only (no I/O here),
 * so tests can drive it with `app.request()`.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { DeadLetters } from "../lifecycle/dead_letters.ts";
import type { StatusFinder } from "../lifecycle/status.ts";
import type { Registry } from "../registry/types.ts";
import type { Publisher } from "../stream/publish.ts";
import { errorResponse, HttpError } from "./http_error.ts";
import { createDlqRoutes } from "./dlq.ts";
import { createIngestRoutes } from "./ingest.ts";
import { createStatusRoutes } from "./status.ts";

/** One named readiness check and whether it passed. */
export type Check = { name: string; ok: boolean; detail?: string };

export type ApiDeps = {
  registry: Registry;
  publisher: Publisher;
  statuses: StatusFinder;
  deadLetters: DeadLetters;
  /** Runs the readiness checks of the process (NATS, topology, PostgreSQL where used). */
  readiness: () => Promise<Check[]>;
  limits: { messageBytes: number; batchBytes: number };
};

/** Build the HTTP app. */
export function createApi(deps: ApiDeps): Hono {
  const app = new Hono();
  app.onError((error, c) => errorResponse(error, c));
  app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}`, details: null }, 404));

  const tooLarge = (limit: number) => () => {
    throw new HttpError(413, `request body larger than ${limit} bytes`);
  };
  app.use(
    "/ingest/message/*",
    bodyLimit({ maxSize: deps.limits.messageBytes, onError: tooLarge(deps.limits.messageBytes) }),
  );
  app.use(
    "/ingest/message",
    bodyLimit({ maxSize: deps.limits.messageBytes, onError: tooLarge(deps.limits.messageBytes) }),
  );
  app.use(
    "/ingest/batch/*",
    bodyLimit({ maxSize: deps.limits.batchBytes, onError: tooLarge(deps.limits.batchBytes) }),
  );
  app.use(
    "/ingest/batch",
    bodyLimit({ maxSize: deps.limits.batchBytes, onError: tooLarge(deps.limits.batchBytes) }),
  );
  app.route("/ingest/status", createStatusRoutes(deps.statuses));
  app.route("/ingest", createIngestRoutes(deps.registry, deps.publisher, deps.statuses));
  app.route("/dlq", createDlqRoutes(deps.deadLetters));

  app.get("/health", (c) => c.json({ status: "ok" }));
  app.get("/ready", async (c) => {
    const checks = await deps.readiness();
    const ready = checks.every((check) => check.ok);
    return c.json({ status: ready ? "ready" : "not ready", checks }, ready ? 200 : 503);
  });
  return app;
}
