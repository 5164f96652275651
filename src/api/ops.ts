/**
 * Operations routes, served by the API and by the worker role on its own port:
 *   GET /health    liveness: the process answers and its event loop is not stuck
 *   GET /ready     200 only when every readiness check passes; 503 naming the failing ones
 *   GET /metrics   Prometheus text format
 *   GET /stats     per-entity, stream and consumer figures (JSON)
 */
import { Hono } from "hono";
import type { Metrics } from "../observability/metrics.ts";
import type { Check, Health, Ready } from "./contract.ts";

export type { Check };

export type OpsDeps = {
  readiness: () => Promise<Check[]>;
  metrics: Metrics;
  stats: () => Promise<Record<string, unknown>>;
};

/** A macrotask turn slower than this is reported unhealthy (the process is overloaded or stuck). */
const MAX_EVENT_LOOP_LAG_MS = 1_000;

/** How long the event loop takes to run a timer that is due now. */
async function eventLoopLag(): Promise<number> {
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 0));
  return Math.round(performance.now() - start);
}

export function createOpsRoutes(deps: OpsDeps): Hono {
  const app = new Hono();
  app.get("/health", async (c) => {
    const lagMs = await eventLoopLag();
    const ok = lagMs < MAX_EVENT_LOOP_LAG_MS;
    const health: Health = { status: ok ? "ok" : "event loop stuck", event_loop_lag_ms: lagMs };
    return c.json(health, ok ? 200 : 503);
  });
  app.get("/ready", async (c) => {
    const checks = await deps.readiness();
    const ready = checks.every((check) => check.ok);
    const body: Ready = { status: ready ? "ready" : "not ready", checks };
    return c.json(body, ready ? 200 : 503);
  });
  app.get("/metrics", async (c) => {
    c.header("Content-Type", deps.metrics.registry.contentType);
    return c.body(await deps.metrics.expose());
  });
  app.get("/stats", async (c) => c.json(await deps.stats()));
  return app;
}
