/**
 * Live-service test harness: every test environment gets its own NATS namespace (streams, subjects, consumer)
 * and its own PostgreSQL database, and removes both — and every role and child process it started — when it is
 * disposed: `await using env = await createTestEnv()`. Services come from NOMNOM_TEST_NATS_URL and
 * NOMNOM_TEST_PG_URL (default: the local ones on 127.0.0.1), or from a private server passed in.
 *
 * The other moves tests repeat live beside it: tests/child.ts (nomnom and servers as child processes, waiting for
 * a log line), tests/private_nats.ts and tests/private_postgres.ts (servers a test may break), `waitFor` and
 * `waitForStatus` here.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import postgres from "postgres";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { run, type Running } from "../src/app.ts";
import { type Config, loadConfig } from "../src/config.ts";
import { createLogger, type Logger, silentLogger } from "../src/log.ts";
import { migrate } from "../src/db/migrate.ts";
import { loadRegistry } from "../src/registry/load.ts";
import type { Registry } from "../src/registry/types.ts";
import { createTopology, type Topology } from "../src/stream/topology.ts";
import { type Child, type NomnomOptions, startNomnom } from "./child.ts";

export { waitForStatus } from "./wait.ts";
export { waitFor } from "./wait.ts";

export const NATS_URL = process.env.NOMNOM_TEST_NATS_URL ?? "nats://127.0.0.1:4222";
const PG_URL = process.env.NOMNOM_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export const TPCH = new URL("./fixtures/nomnom-tpch/", import.meta.url).pathname;

// Stream limits small enough that many environments fit the shared server's max_file_store at once (JetStream
// reserves max_bytes up front).
const STREAM_FLAGS = [`--stream-max-bytes=${64 * 1024 * 1024}`, `--dlq-max-bytes=${16 * 1024 * 1024}`];

export type TestEnvOptions = {
  /** The namespace (default: a unique one), when a server must be configured for it before the environment. */
  namespace?: string;
  /** The entities folder (default: the TPC-H fixture). */
  entities?: string;
  /** Extra nomnom flags for every role this environment starts. */
  flags?: string[];
  /** The logger of in-process roles (default: silent, or debug to stderr with NOMNOM_TEST_LOG=1). */
  log?: Logger;
  /**
   * A private NATS (tests/private_nats.ts) instead of the shared one; its streams go with it. `flags`: the
   * --nats-* settings that reach it (TLS files, credentials), `options` the same for the test's own connections.
   */
  nats?: { url: string; flags?: string[]; options?: Partial<ConnectionOptions> };
  /** A private PostgreSQL (tests/private_postgres.ts) instead of the shared one. */
  postgres?: { url: string };
};

export type TestEnv = AsyncDisposable & {
  namespace: string;
  config: Config;
  registry: Registry;
  /** The topology the roles of this environment use (stream and subject names come from src/stream). */
  topology(): Topology;
  /** A connection to this environment's own database. */
  sql: postgres.Sql;
  /** The flags that point a nomnom process at this environment: namespace, entities, NATS, database. */
  flags: string[];
  /** Create this environment's tables (as a starting worker would), e.g. to alter one before any role runs. */
  migrate(): Promise<void>;
  /** Start a role in this process with this environment's config (plus `overrides`). */
  start(role: Config["role"], overrides?: string[]): Promise<Running & { url: string }>;
  /**
   * Start a role as a child process on this environment (loopback, ports picked by the OS, JSON logs, no drain
   * unless `flags` set --shutdown-drain-ms); killed, showing its output, if still running at disposal.
   */
  spawn(role: Config["role"], flags?: string[], options?: NomnomOptions): Child;
  /** A NATS connection to this environment's server, closed when the environment is disposed. */
  connectNats(): Promise<NatsConnection>;
  /** Make the database refuse nomnom: new connections are refused and open ones are cut (a transient outage). */
  cutDatabase(): Promise<void>;
  /** End the outage started by `cutDatabase()` (disposal ends it too). */
  restoreDatabase(): Promise<void>;
};

/** A unique, valid namespace: lowercase, starts with a letter, ≤ 32 chars. */
export function uniqueName(prefix = "t"): string {
  return `${prefix}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

/** Create an isolated environment (namespace + database), disposed with `await using`. */
export async function createTestEnv(options: TestEnvOptions = {}): Promise<TestEnv> {
  const namespace = options.namespace ?? uniqueName();
  const database = `nomnom_${namespace}`;
  const adminUrl = options.postgres?.url ?? PG_URL;
  const natsUrl = options.nats?.url ?? NATS_URL;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE "${database}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const databaseUrl = url.toString();
  const flags = [
    `--namespace=${namespace}`,
    `--entities=${options.entities ?? TPCH + "entities"}`,
    `--nats-url=${natsUrl}`,
    ...(options.nats?.flags ?? []),
    `--database-url=${databaseUrl}`,
  ];
  const configFor = (extra: string[]) =>
    loadConfig([
      ...flags,
      "--host=127.0.0.1",
      "--port=0",
      "--ops-port=0",
      ...STREAM_FLAGS,
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
  const children: Child[] = [];
  const connections: NatsConnection[] = [];
  const log = options.log ?? (process.env.NOMNOM_TEST_LOG ? createLogger("debug") : silentLogger);
  const topology = () => createTopology(config, registry);
  let cut = false;
  const restoreDatabase = async () => {
    await admin.unsafe(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS true`);
    cut = false;
  };

  return {
    namespace,
    config,
    registry,
    sql,
    flags,
    topology,
    async migrate() {
      await migrate(sql, registry, silentLogger);
    },
    async start(role, overrides = []) {
      const r = await run(role, {
        config: { ...configFor(overrides), role },
        registry,
        log: log.child({ role }),
      });
      running.push(r);
      return { ...r, url: `http://127.0.0.1:${r.runtime.server?.port ?? 0}` };
    },
    spawn(role, extra = [], spawnOptions = {}) {
      const all = [...(options.flags ?? []), ...extra];
      // No load balancer sits in front of a test's API: a SIGTERM need not wait the default 5 s drain.
      const drain = all.some((f) => f.startsWith("--shutdown-drain-ms")) ? [] : ["--shutdown-drain-ms=0"];
      const child = startNomnom([
        `--role=${role}`,
        ...flags,
        "--host=127.0.0.1",
        "--port=0",
        "--ops-port=0",
        ...STREAM_FLAGS,
        ...drain,
        ...all,
      ], spawnOptions);
      children.push(child);
      return child;
    },
    async connectNats() {
      const nc = await connect({ servers: natsUrl, ...options.nats?.options });
      connections.push(nc);
      return nc;
    },
    async cutDatabase() {
      cut = true;
      await admin.unsafe(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS false`);
      await admin.unsafe(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
        [database],
      );
    },
    restoreDatabase,
    async [Symbol.asyncDispose]() {
      for (const child of children.reverse()) await child[Symbol.asyncDispose]();
      for (const r of running.reverse()) await r.stop();
      await sql.end();
      for (const nc of connections) await nc.close();
      // A private server takes its streams and databases with it when it is disposed (and may be stopped now).
      if (!options.nats) {
        const nc = await connect({ servers: natsUrl });
        const jsm = await jetstreamManager(nc);
        for (const stream of topology().streams) await jsm.streams.delete(stream.name).catch(() => {});
        await nc.close();
      }
      if (!options.postgres) {
        if (cut) await restoreDatabase();
        await admin.unsafe(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      }
      await admin.end();
    },
  };
}

/** A new, empty temporary directory, removed with everything in it on dispose. */
export async function createTempDir(prefix = "nomnom-test-"): Promise<AsyncDisposable & { path: string }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
}

/** An HTTP answer as tests read it: the body as text, and parsed when it is JSON. */
// deno-lint-ignore no-explicit-any
export type Answer = { status: number; headers: Headers; text: string; body: any };

/**
 * Send a request (a body, when given, as JSON unless `init` says otherwise; a POST or DELETE names JSON even
 * without one, as the API requires) and read the whole answer.
 */
export async function request(url: string, init: RequestInit = {}): Promise<Answer> {
  const headers = new Headers(init.headers);
  const changes = init.method !== undefined && !["GET", "HEAD", "OPTIONS"].includes(init.method);
  if ((init.body !== undefined || changes) && !headers.has("content-type")) {
    headers.set("content-type", "application/json");
  }
  const response = await fetch(url, { ...init, headers });
  const text = await response.text();
  const json = /json/.test(response.headers.get("content-type") ?? "");
  return {
    status: response.status,
    headers: response.headers,
    text,
    body: json ? JSON.parse(text) : undefined,
  };
}

/** POST JSON (or raw text) and return status and parsed body. */
export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  return await request(url, {
    method: "POST",
    headers,
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/**
 * Make the database reject `table.column` values above `max` with 22003 (numeric value out of range), as a
 * smallint column would: valid messages that only the database refuses. A trigger, not a narrower column type:
 * nomnom widens a column narrower than its entity at start (src/db/schema_diff.ts). `acceptAgain()` undoes it.
 */
export async function rejectAbove(
  sql: postgres.Sql,
  table: string,
  column: string,
  max: number,
): Promise<void> {
  const name = `${table}_${column}_poison`;
  await sql.unsafe(`
    CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      IF NEW.${column} > ${max} THEN
        RAISE EXCEPTION 'value % is out of range for ${column}', NEW.${column} USING ERRCODE = '22003';
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER ${name} BEFORE INSERT OR UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${name}();`);
}

/** Undo `rejectAbove()`: the cause of those dead letters is fixed. */
export async function acceptAgain(sql: postgres.Sql, table: string, column: string): Promise<void> {
  await sql.unsafe(`DROP TRIGGER ${table}_${column}_poison ON ${table}`);
}
