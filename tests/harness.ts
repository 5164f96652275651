/**
 * Live-service test harness: every test environment gets its own NATS namespace (streams, subjects, consumer)
 * and its own PostgreSQL database, and removes both when done. Services come from NOMNOM_TEST_NATS_URL and
 * NOMNOM_TEST_PG_URL (default: the local ones on 127.0.0.1).
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";
import process from "node:process";
import { run, type Running } from "../src/app.ts";
import { type Config, loadConfig } from "../src/config.ts";
import { createLogger, type Logger, silentLogger } from "../src/log.ts";
import { isPostgresJsClosedSocketRace } from "../src/db/postgres_guard.ts";
import { STATUS_TABLE } from "../src/db/statements.ts";
import { loadRegistry } from "../src/registry/load.ts";
import type { Registry } from "../src/registry/types.ts";
import { createTopology, type Topology } from "../src/stream/topology.ts";

// The same guard main.ts installs: tests cut database connections on purpose (see src/db/postgres_guard.ts).
globalThis.addEventListener("error", (event) => {
  if (isPostgresJsClosedSocketRace(event.error)) event.preventDefault();
});

export const NATS_URL = process.env.NOMNOM_TEST_NATS_URL ?? "nats://127.0.0.1:4222";
const PG_URL = process.env.NOMNOM_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export const TPCH = new URL("./fixtures/nomnom-tpch/", import.meta.url).pathname;

export type TestEnv = {
  namespace: string;
  config: Config;
  registry: Registry;
  /** The topology the roles of this environment use. */
  topology(): Topology;
  /** A connection to this environment's own database. */
  sql: postgres.Sql;
  /** Start a role (in this process) with this environment's config; stopped by `close()`. */
  start(role: Config["role"], overrides?: string[]): Promise<Running & { url: string }>;
  /** Make the database refuse nomnom: new connections are refused and open ones are cut (a transient outage). */
  cutDatabase(): Promise<void>;
  /** End the outage started by `cutDatabase()`. */
  restoreDatabase(): Promise<void>;
  close(): Promise<void>;
};

/** A unique, valid namespace: lowercase, starts with a letter, ≤ 32 chars. */
export function uniqueName(prefix = "t"): string {
  return `${prefix}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

/** Create an isolated environment (namespace + database). `flags` are extra nomnom flags. */
export async function createTestEnv(
  options: { entities?: string; flags?: string[]; log?: Logger } = {},
): Promise<TestEnv> {
  const namespace = uniqueName();
  const database = `nomnom_${namespace}`;
  const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE "${database}"`);
  const url = new URL(PG_URL);
  url.pathname = `/${database}`;
  const databaseUrl = url.toString();
  const configFor = (extra: string[]) =>
    loadConfig([
      `--namespace=${namespace}`,
      `--entities=${options.entities ?? TPCH + "entities"}`,
      `--nats-url=${NATS_URL}`,
      `--database-url=${databaseUrl}`,
      "--host=127.0.0.1",
      "--port=0",
      "--ops-port=0",
      `--stream-max-bytes=${64 * 1024 * 1024}`,
      `--dlq-max-bytes=${16 * 1024 * 1024}`,
      "--batch-linger-ms=2",
      "--retry-base-ms=200",
      "--retry-max-ms=2000",
      ...(options.flags ?? []),
      ...extra,
    ], {});
  const config = configFor([]);
  const registry = await loadRegistry(config.entitiesDir);
  const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
  const running: Running[] = [];
  const log = options.log ?? (process.env.NOMNOM_TEST_LOG ? createLogger("debug") : silentLogger);

  return {
    namespace,
    config,
    registry,
    sql,
    topology: () => createTopology(config, registry),
    async start(role, overrides = []) {
      const r = await run(role, {
        config: { ...configFor(overrides), role },
        registry,
        log: log.child({ role }),
      });
      running.push(r);
      return { ...r, url: `http://127.0.0.1:${r.runtime.server?.port ?? 0}` };
    },
    async cutDatabase() {
      await admin.unsafe(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS false`);
      await admin.unsafe(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
        [database],
      );
    },
    async restoreDatabase() {
      await admin.unsafe(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS true`);
    },
    async close() {
      for (const r of running.reverse()) await r.stop();
      await sql.end();
      const nc = await connect({ servers: NATS_URL });
      const jsm = await jetstreamManager(nc);
      for (const stream of createTopology(config, registry).streams) {
        await jsm.streams.delete(stream.name).catch(() => {});
      }
      await nc.close();
      await admin.unsafe(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      await admin.end();
    },
  };
}

/** Poll `check` until it returns a truthy value (or throw after `timeoutMs`, saying what was awaited). */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T> | T,
  timeoutMs = 15_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** POST JSON (or raw text) and return status and parsed body. */
export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** Status rows of the given message ids, by id. */
export async function statuses(sql: postgres.Sql, ids: string[]): Promise<Map<string, string>> {
  const rows = await sql`SELECT message_id, status FROM ${sql(STATUS_TABLE.schema!)}.${sql(STATUS_TABLE.name)}
    WHERE message_id = ANY(${ids})`;
  return new Map(rows.map((r) => [r.message_id as string, r.status as string]));
}

/** Resolves once every id has status `completed`. */
export function allCompleted(sql: postgres.Sql, ids: string[]): Promise<unknown> {
  return waitFor(`${ids.length} message(s) completed`, async () => {
    const s = await statuses(sql, ids);
    return ids.every((id) => s.get(id) === "completed");
  });
}
