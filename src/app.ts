/**
 * The module table and `run(target)`: a module is a name, its dependencies and a start function that returns
 * how to stop it. `api`, `worker` and `all` are targets; `all` is just the module that depends on both. Modules
 * start dependencies first and stop in reverse order; every role shares the same registry, topology and NATS
 * connection.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { TimeoutError } from "@nats-io/transport-node";
import type { Check } from "./api/app.ts";
import { createApi } from "./api/app.ts";
import { createHub, type Hub } from "./dashboard/hub.ts";
import { createDashboardReader } from "./dashboard/read.ts";
import { createDashboardRoutes } from "./dashboard/routes.ts";
import { createOpsRoutes, type OpsDeps } from "./api/ops.ts";
import { requireScopes } from "./api/access.ts";
import { type ApiKeys, loadApiKeys } from "./api/api_keys.ts";
import { errorResponse } from "./api/http_error.ts";
import { Hono } from "hono";
import { readStats, readStreamFigures } from "./lifecycle/stats.ts";
import { hideValues } from "./db/error_values.ts";
import { createMetrics, type Metrics } from "./observability/metrics.ts";
import { createRateCounter, type RateCounter } from "./observability/rates.ts";
import { VERSION } from "./version.ts";
import { type HttpServer, serveHttp, type ServerTls } from "./api/serve.ts";
import { loadServerTls, urlScheme } from "./api/server_tls.ts";
import type { Config } from "./config.ts";
import { connectDatabase, type Sql } from "./db/connect.ts";
import { type EmbeddedNats, findNatsServer, startEmbeddedNats } from "./embedded/nats.ts";
import { type EmbeddedPostgres, startEmbeddedPostgres, usesEmbeddedPostgres } from "./embedded/postgres.ts";
import { findLegacyChildren, migrate } from "./db/migrate.ts";
import { type SchemaWatch, startSchemaWatch } from "./db/schema_watch.ts";
import { startStatusRetention } from "./db/status_retention.ts";
import { createWritePlan } from "./db/write_batch.ts";
import type { Logger } from "./log.ts";
import type { Registry } from "./registry/types.ts";
import { createDeadLetters } from "./lifecycle/dead_letters.ts";
import { createStatusFinder } from "./lifecycle/status.ts";
import { connectJetStream, connectNats, type Nats } from "./stream/connect.ts";
import { EMBEDDED_NATS, requireNoSecurity } from "./stream/nats_options.ts";
import { ensureTopology, viewCluster } from "./stream/ensure.ts";
import { answerPresence } from "./stream/presence.ts";
import { createPublisher, type Publisher } from "./stream/publish.ts";
import { createTopology, explainPayloadLimit, type Topology } from "./stream/topology.ts";
import { ConfigError } from "./errors.ts";
import { withTimeout } from "./timeout.ts";
import { startWorker, type Worker } from "./worker/worker.ts";

/** Logged once at start without --api-keys-file. */
export const OPEN_API_WARNING =
  "no --api-keys-file: the API answers every request without a key; set one outside a trusted network";

/** What modules share; each module fills in its part. */
export type Runtime = {
  config: Config;
  registry: Registry;
  topology: Topology;
  log: Logger;
  version: string;
  startedAt: Date;
  metrics: Metrics;
  /** Acceptances by entity in this process (for /stats). */
  accepted: RateCounter;
  /** Set at the first moment of a shutdown: readiness fails from then on. */
  stopping: boolean;
  /** The embedded database when the caller began its start (src/cli/run.ts); the database module takes it over. */
  prestarted?: { postgres?: Promise<EmbeddedPostgres> };
  /** The URLs of what runs embedded (role all without NATS_URL / DATABASE_URL). */
  embedded: { nats?: string; postgres?: string };
  nats?: Nats & { js: JetStreamClient; jsm: JetStreamManager };
  sql?: Sql;
  migrated?: boolean;
  /** Which entities' tables match (readiness, /stats, and the worker holds the others' messages). */
  schema?: SchemaWatch;
  /** Derived entities whose tables hold rows from before nomnom (see createWritePlan()). */
  legacyChildren?: ReadonlySet<string>;
  server?: HttpServer;
  opsServer?: HttpServer;
  worker?: Worker;
  /** The API keys in force (--api-keys-file); undefined: the API and the ops port are open. */
  keys?: ApiKeys;
  /** The certificate and key the API and the ops port serve HTTPS with (--tls-cert, --tls-key). */
  tls?: ServerTls;
};

type Stop = () => Promise<void>;
/** A module: what it needs started first (side by side, or one after the other with `inOrder`), and its start. */
type Module = { deps: ModuleName[]; inOrder?: true; start?: (rt: Runtime) => Promise<Stop | void> };
type ModuleName = "nats" | "topology" | "database" | "api" | "worker" | "all";

const MODULES: Record<ModuleName, Module> = {
  nats: {
    deps: [],
    async start(rt) {
      let url = rt.config.natsUrl;
      let embedded: EmbeddedNats | undefined;
      if (!url) {
        requireNoSecurity(rt.config.nats, EMBEDDED_NATS);
        embedded = await startEmbeddedNats(rt.config.dataDir, findNatsServer(rt.config.natsServer), rt.log);
        url = embedded.url;
        rt.embedded.nats = url;
      }
      const nats = await connectNats(url, rt.config.nats, `nomnom-${rt.config.role}`, rt.log);
      const tooLarge = explainPayloadLimit(
        rt.config.limits.messageBytes,
        nats.nc.info?.max_payload ?? Infinity,
      );
      if (tooLarge) {
        await nats.nc.close();
        await embedded?.stop();
        throw new ConfigError(tooLarge);
      }
      rt.nats = { ...nats, ...await connectJetStream(nats.nc, rt.log) };
      return async () => {
        await nats.nc.drain();
        await embedded?.stop();
      };
    },
  },
  topology: {
    deps: ["nats"],
    async start(rt) {
      try {
        await ensureTopology(rt.nats!.jsm, rt.topology, rt.log, viewCluster(rt.nats!.nc.info));
      } catch (error) {
        // The embedded PostgreSQL starts alongside, and PGlite's WebAssembly start blocks the event loop for
        // seconds on a slow machine: a JetStream request sent just before times out although the server
        // answered ("nomnom: timeout", the demo never started). Ensuring is idempotent: once more.
        if (!(error instanceof TimeoutError) || rt.config.databaseUrl) throw error;
        rt.log.info("JetStream setup timed out while the embedded PostgreSQL started; trying again");
        await ensureTopology(rt.nats!.jsm, rt.topology, rt.log, viewCluster(rt.nats!.nc.info));
      }
    },
  },
  database: {
    deps: [],
    async start(rt) {
      let url = rt.config.databaseUrl!;
      let embedded: EmbeddedPostgres | undefined;
      if (usesEmbeddedPostgres(rt.config)) {
        embedded = await (rt.prestarted?.postgres ?? startEmbeddedPostgres(rt.config.dataDir, rt.log));
        url = embedded.url;
        rt.embedded.postgres = url;
      }
      // PGlite runs one query at a time: one connection, so that queries queue in postgres.js, in order.
      const sql = await connectDatabase(url, embedded ? 1 : rt.config.dbPoolSize, rt.log, {
        caFile: rt.config.postgresCaFile,
      });
      rt.sql = sql;
      const initial = await migrate(sql, rt.registry, rt.log);
      rt.legacyChildren = await findLegacyChildren(sql, rt.registry);
      const schema = startSchemaWatch({
        sql,
        registry: rt.registry,
        log: rt.log,
        metrics: rt.metrics,
        intervalMs: rt.config.schemaCheckMs,
        initial,
      });
      rt.schema = schema;
      const retention = await startStatusRetention(sql, {
        retentionDays: rt.config.statusRetentionDays,
        log: rt.log,
      });
      rt.migrated = true;
      return async () => {
        await retention.stop();
        await schema.stop();
        await sql.end({ timeout: 5 });
        await embedded?.stop();
      };
    },
  },
  api: {
    // The database too: status, idempotency and the dead-letter queue read and write nomnom.messages.
    deps: ["topology", "database"],
    async start(rt) {
      const { js, jsm } = rt.nats!;
      const hub: Hub = createHub({
        read: createDashboardReader({
          sql: rt.sql!,
          nc: rt.nats!.nc,
          jsm,
          topology: rt.topology,
          registry: rt.registry,
          accepted: rt.accepted,
          process: { role: rt.config.role, version: rt.version, startedAt: rt.startedAt },
          clients: () => hub.clients().length,
          // One feed for every page: with keys, a reader without the dlq scope may be watching.
          hideValues: rt.keys !== undefined,
        }),
        log: rt.log,
      });
      const app = createApi({
        registry: rt.registry,
        publisher: instrument(
          createPublisher(js, rt.topology, {
            timeoutMs: rt.config.publishTimeoutMs,
            maxPayload: rt.nats!.nc.info?.max_payload ?? Infinity,
          }),
          rt,
        ),
        statuses: createStatusFinder(rt.sql!, jsm, rt.topology),
        deadLetters: createDeadLetters(rt.sql!, js, jsm, rt.topology),
        ops: opsDeps(rt),
        metrics: rt.metrics,
        log: rt.log,
        version: rt.version,
        keys: rt.keys,
        metricsPublic: rt.config.access.metricsPublic,
        limits: { messageBytes: rt.config.limits.messageBytes, batchBytes: rt.config.limits.batchBytes },
        cors: rt.config.cors,
        rateLimit: rt.config.rateLimit,
        dashboard: createDashboardRoutes({
          hub,
          registry: rt.registry,
          sql: rt.sql!,
          namespace: rt.topology.namespace,
          version: rt.version,
        }),
      });
      const server = await serveHttp(app.fetch, rt.config.http.host, rt.config.http.port, rt.tls);
      rt.server = server;
      rt.log.info("api listening", {
        url: `${urlScheme(rt.config)}://${bracketed(rt.config.http.host)}:${server.port}`,
      });
      return async () => {
        // Open event streams never end by themselves: the server would wait for them until the timeout.
        hub.close();
        await server.close();
      };
    },
  },
  worker: {
    deps: ["topology", "database"],
    async start(rt) {
      const worker = await startWorker({
        js: rt.nats!.js,
        sql: rt.sql!,
        plan: createWritePlan(rt.registry, rt.legacyChildren),
        topology: rt.topology,
        settings: rt.config.worker,
        log: rt.log,
        metrics: rt.metrics,
        schema: rt.schema,
      });
      rt.worker = worker;
      // Answered for the dashboard of any API replica (workers connected).
      const presence = answerPresence(rt.nats!.nc, rt.topology, rt.version);
      if (rt.config.role !== "worker") return () => (presence.stop(), worker.stop());
      // A worker alone still answers probes and scrapes, on its own port.
      // The same access rule as the API's (src/api/access.ts): probes open, the rest by scope. No CORS and no
      // rate limit here: probes and scrapers are no browser pages, and a throttled probe would restart the pod.
      const ops = new Hono();
      ops.onError((error, c) => errorResponse(error, c));
      if (rt.keys) ops.use(requireScopes(rt.keys, { metricsPublic: rt.config.access.metricsPublic }));
      ops.route("/", createOpsRoutes(opsDeps(rt)));
      const server = await serveHttp(ops.fetch, rt.config.http.host, rt.config.opsPort, rt.tls);
      rt.opsServer = server;
      rt.log.info("worker ops listening", {
        url: `${urlScheme(rt.config)}://${bracketed(rt.config.http.host)}:${server.port}`,
      });
      return async () => {
        presence.stop();
        await worker.stop();
        await server.close();
      };
    },
  },
  // The worker starts first so that it stops last: on shutdown the API stops accepting, then the worker
  // finishes and commits its batch.
  all: { deps: ["worker", "api"], inOrder: true },
};

/** A running target: its runtime and how to stop it (reverse start order). */
export type Running = { runtime: Runtime; stop(): Promise<void> };

/** Start `target` and its dependencies. On a failed start, what had started is stopped again. */
export async function run(
  target: ModuleName,
  base: Pick<Runtime, "config" | "registry" | "log"> & Partial<Pick<Runtime, "topology" | "prestarted">>,
): Promise<Running> {
  const rt: Runtime = {
    ...base,
    topology: base.topology ?? createTopology(base.config, base.registry),
    version: VERSION,
    startedAt: new Date(),
    metrics: createMetrics(base.config.role, VERSION),
    accepted: createRateCounter(),
    stopping: false,
    embedded: {},
  };
  // A bad keys file or certificate is a ConfigError before anything starts (exit 2, naming the setting).
  rt.tls = loadServerTls(rt.config.tls);
  const keysFile = rt.config.access.apiKeysFile;
  if (keysFile) rt.keys = loadApiKeys(keysFile, rt.registry, rt.log);
  else if (target !== "worker" || rt.config.role === "worker") {
    rt.log.warn(
      "no --api-keys-file: the API answers every request without a key; set one outside a trusted network",
    );
  }
  const stops: Stop[] = rt.keys ? [() => Promise.resolve(rt.keys!.stop())] : [];
  const starting = new Map<ModuleName, Promise<void>>();
  const stopAll = async () => {
    rt.stopping = true;
    for (const stop of stops.reverse().splice(0)) {
      await stop().catch((error) => rt.log.error("error while stopping", { error }));
    }
  };
  // Independent modules start side by side (NATS and its topology while PostgreSQL connects and migrates: the
  // start-to-ready time is the longer of the two, not their sum). A module's stop is pushed only once its own
  // start has finished, so the reversed list stops every module before what it depends on.
  const start = (name: ModuleName): Promise<void> => {
    let started = starting.get(name);
    if (!started) {
      started = (async () => {
        const { deps, inOrder } = MODULES[name];
        if (inOrder) { for (const dep of deps) await start(dep); }
        else await Promise.all(deps.map(start));
        const stop = await MODULES[name].start?.(rt);
        if (stop) stops.push(stop);
      })();
      starting.set(name, started);
    }
    return started;
  };
  try {
    await start(target);
  } catch (error) {
    // Let the modules still starting finish (or fail) before stopping: none may be left open behind us.
    await Promise.allSettled(starting.values());
    await stopAll();
    throw error;
  }
  return { runtime: rt, stop: stopAll };
}

/** What /health, /ready, /metrics and /stats read, for the API and the worker's ops port alike. */
function opsDeps(rt: Runtime): OpsDeps {
  rt.metrics.setStreamReader(() => readStreamFigures(rt.nats!.jsm, rt.topology), {
    ingest: rt.topology.ingest.name,
    dlq: rt.topology.dlq.name,
    consumer: rt.topology.consumer.durable_name!,
  });
  return {
    readiness: () => readiness(rt),
    metrics: rt.metrics,
    stats: async () => ({
      ...await readStats({
        sql: rt.sql,
        jsm: rt.nats!.jsm,
        topology: rt.topology,
        registry: rt.registry,
        accepted: rt.accepted,
        startedAt: rt.startedAt,
        version: rt.version,
        role: rt.config.role,
      }),
      // Entities whose messages wait because their table does not match (empty when all flow).
      // Their problems may quote a write error: without its row values, like all of /stats.
      schema_mismatches: (rt.schema?.mismatches() ?? []).map((m) => ({
        ...m,
        problems: m.problems.map(hideValues),
      })),
    }),
  };
}

/** Count what the publisher stored (metrics and /stats). */
function instrument(publisher: Publisher, rt: Runtime): Publisher {
  return {
    async publish(request) {
      const started = performance.now();
      const result = await publisher.publish(request);
      rt.metrics.publishSeconds.observe((performance.now() - started) / 1000);
      if (!result.duplicate) {
        rt.metrics.published.inc({ entity: request.entity });
        rt.accepted.add(request.entity);
      }
      return result;
    },
  };
}

async function readiness(rt: Runtime): Promise<Check[]> {
  const checks: Check[] = [{
    name: "running",
    ok: !rt.stopping,
    detail: rt.stopping ? "shutting down" : undefined,
  }];
  const nats = rt.nats!;
  checks.push({ name: "nats", ok: nats.isConnected() });
  checks.push(await topologyCheck(rt));
  if (rt.sql) {
    checks.push(
      await withTimeout(rt.sql`SELECT 1`, 2000)
        .then(() => ({ name: "postgres", ok: true }))
        .catch((error) => ({ name: "postgres", ok: false, detail: (error as Error).message })),
    );
    checks.push({ name: "migrations", ok: rt.migrated === true });
    const held = rt.schema?.mismatches() ?? [];
    checks.push({
      name: "schema",
      ok: held.length === 0,
      detail: held.length === 0
        ? undefined
        : held.map((m) => `${m.entity} (messages held since ${m.since}): ${m.problems.join(" | ")}`).join(
          "; ",
        ),
    });
  }
  return checks;
}

/**
 * Every piece the roles need exists: the ingest stream, the dead-letter stream and the worker's durable consumer
 * (someone may have deleted one by hand; without the DLQ a failing message could not be dead-lettered). The
 * detail names what is missing.
 */
async function topologyCheck(rt: Runtime): Promise<Check> {
  const { jsm } = rt.nats!;
  const { ingest, dlq, consumer } = rt.topology;
  const parts: [string, Promise<unknown>][] = [
    [`stream ${ingest.name}`, jsm.streams.info(ingest.name)],
    [`stream ${dlq.name}`, jsm.streams.info(dlq.name)],
    [`consumer ${consumer.durable_name}`, jsm.consumers.info(consumer.stream, consumer.durable_name!)],
  ];
  const failed = (await Promise.all(
    parts.map(([what, info]) =>
      withTimeout(info, 2000).then(() => undefined, (error) => `${what}: ${(error as Error).message}`)
    ),
  )).filter((f): f is string => f !== undefined);
  return failed.length === 0
    ? { name: "topology", ok: true }
    : { name: "topology", ok: false, detail: failed.join("; ") };
}

/** An IPv6 address as a URL host wants it (the bound address as is: the log says where the socket listens). */
function bracketed(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}
