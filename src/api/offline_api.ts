/**
 * The API app with nothing behind it, for tests that read only what it routes and documents (its route list,
 * the OpenAPI document, Swagger UI, access rules): publishing answers as if stored, lookups find nothing, and
 * nothing that needs NATS or PostgreSQL is ever reached. Live behaviour is tested against real services in
 * tests/.
 */
import { createHub } from "../dashboard/hub.ts";
import { createDashboardRoutes } from "../dashboard/routes.ts";
import type { Sql } from "../db/connect.ts";
import type { DeadLetters } from "../lifecycle/dead_letters.ts";
import { silentLogger } from "../log.ts";
import { createMetrics } from "../observability/metrics.ts";
import type { Registry } from "../registry/types.ts";
import { type ApiDeps, createApi } from "./app.ts";

/** The app, and the ops dependencies it was given (the ops app can be built from the same). */
export function createOfflineApi(registry: Registry, version = "test") {
  const metrics = createMetrics("api", "test");
  const ops: ApiDeps["ops"] = {
    readiness: () => Promise.resolve([]),
    metrics,
    stats: () => Promise.resolve({}),
  };
  const app = createApi({
    registry,
    publisher: { publish: () => Promise.resolve({ seq: 1, duplicate: false }) },
    statuses: { find: () => Promise.resolve(new Map()), bodySha256: () => Promise.resolve(undefined) },
    deadLetters: {} as DeadLetters,
    ops,
    metrics,
    log: silentLogger,
    version,
    limits: { messageBytes: 1 << 20, batchBytes: 1 << 20 },
    dashboard: createDashboardRoutes({
      hub: createHub({ read: () => Promise.resolve({}), log: silentLogger }),
      registry,
      sql: {} as Sql,
      namespace: "test",
      version,
    }),
  });
  return { app, ops };
}
