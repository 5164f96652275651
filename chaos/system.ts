/**
 * The system under test: one API and two workers, each a separate nomnom child process, against the suite's own
 * nats-server(s) and its own PostgreSQL (a fresh database per scenario). Each process keeps its port across
 * restarts, logs to a file, and an exit the scenario did not ask for is recorded as a crash.
 */
import { appendFile } from "node:fs/promises";
import { join } from "node:path";
import postgres from "postgres";
import { nomnomCommand, type NomnomRuntime } from "../bench/nomnom_command.ts";
import { type Child, type Exit, spawnChild } from "../tests/child.ts";
import {
  databaseUrl,
  freePort,
  type PrivateNats,
  type PrivatePostgres,
  startPrivateNats,
  waitFor,
} from "./services.ts";

const ROOT = new URL("../", import.meta.url).pathname;
/** The TPC-H entities of the bench: orders with 1–7 derived line items each. */
export const ENTITIES = join(ROOT, "tests/fixtures/nomnom-tpch/entities");

/** How the suite runs nomnom. */
export type RunOptions = { runtime: NomnomRuntime; binary?: string; logDir: string };

/** An exit nobody asked for: the process died by itself (exit code or signal). */
export type Crash = { process: string; exit: number | string; log: string };

/** One nomnom process; `port` is its API port (api) or ops port (worker), the same after every restart. */
export type NomnomProcess = {
  name: string;
  role: "api" | "worker";
  port: number;
  running(): boolean;
  /** Start it (again) and wait for /ready. */
  start(): Promise<void>;
  /** Send a signal that ends it; resolves with the exit code (or signal) once it has exited. */
  signal(signal: NodeJS.Signals): Promise<number | string | null>;
  /** SIGSTOP / SIGCONT: the process freezes (its connections stay open) and thaws. */
  pause(): void;
  resume(): void;
  /** Lines it logged at error level, over all its runs. */
  errorLines(): number;
};

export type System = {
  url: string;
  api: NomnomProcess;
  workers: NomnomProcess[];
  nats: PrivateNats;
  pg: PrivatePostgres;
  database: string;
  /** A connection to the scenario's database (reconnects by itself after a PostgreSQL outage). */
  sql: postgres.Sql;
  namespace: string;
  crashes: Crash[];
  /** What went wrong without breaking the invariant (a start that failed and was retried). */
  notes: string[];
  close(): Promise<void>;
};

/** What a scenario changes in the system: NATS cluster size and extra nomnom flags. */
export type SystemSpec = { name: string; natsNodes?: 1 | 3; flags?: string[] };

function createProcess(
  name: string,
  role: "api" | "worker",
  port: number,
  args: string[],
  options: RunOptions,
  found: { crashes: Crash[]; notes: string[] },
): NomnomProcess {
  /** The current run: its child, whether the scenario ended it (then its exit is no crash), and its exit. */
  let current: { child: Child; expected: boolean; exit: Promise<Exit> } | undefined;
  let running = false;
  let errors = 0;
  const logFile = join(options.logDir, `${name}.log`);

  /** One start: spawn, then wait for /ready (rejects at once if the process exits first). */
  const launch = async () => {
    const { command, args: pre, env } = await nomnomCommand(options.runtime, options.binary);
    const portFlag = role === "api" ? `--port=${port}` : `--ops-port=${port}`;
    const started = spawnChild(command, [...pre, `--role=${role}`, portFlag, ...args], {
      env: { ...env as Record<string, string>, LOG_FORMAT: "json" },
    });
    let ready = false;
    const run = { child: started, expected: false, exit: Promise.resolve<Exit>(0) };
    current = run;
    run.exit = started.exited.then(async (code) => {
      if (current === run) running = false;
      const log = started.stderr();
      errors += log.split("\n").filter((l) => l.includes('"level":"error"')).length;
      await appendFile(logFile, log);
      if (!run.expected && ready) found.crashes.push({ process: name, exit: code, log: log.slice(-4000) });
      return code;
    });
    running = true;
    const answering = waitFor(`${name} to be ready`, async () => {
      const r = await fetch(`http://127.0.0.1:${port}/ready`, { signal: AbortSignal.timeout(2000) });
      await r.body?.cancel();
      return r.ok;
    }, 60_000);
    const died = run.exit.then((code) => {
      throw new Error(`${name} exited (${code}) before it was ready: ${started.stderr().slice(-1000)}`);
    });
    await Promise.race([answering, died]);
    ready = true;
  };

  const self: NomnomProcess = {
    name,
    role,
    port,
    running: () => running,
    async start() {
      // Like an orchestrator restarting a pod whose start failed (exit 1, "a service unreachable at start"):
      // up to three tries, each failure noted; only an exit after the process was ready counts as a crash.
      for (let attempt = 1;; attempt++) {
        try {
          return await launch();
        } catch (error) {
          if (attempt === 3) throw error;
          found.notes.push(`${name} failed to start (try ${attempt}): ${String(error).slice(0, 300)}`);
          await self.signal("SIGKILL");
        }
      }
    },
    async signal(signal) {
      if (!current || !running) return null;
      current.expected = true;
      current.child.signal(signal);
      // A frozen process (pause()) gets the signal as it thaws, like a busy one that is told to stop.
      if (signal !== "SIGKILL") current.child.signal("SIGCONT");
      return await current.exit;
    },
    pause: () => void (running && current!.child.signal("SIGSTOP")),
    resume: () => void (running && current!.child.signal("SIGCONT")),
    errorLines: () => errors + (running ? current!.child.stderr().split('"level":"error"').length - 1 : 0),
  };
  return self;
}

/**
 * Start the system for one scenario: its own NATS (one node or a cluster), a fresh database on `pg`, the API
 * and two workers, all ready.
 */
export async function startSystem(
  spec: SystemSpec,
  pg: PrivatePostgres,
  options: RunOptions,
): Promise<System> {
  const namespace = "chaos";
  const database = `chaos_${spec.name.replace(/\W/g, "_")}_${Date.now().toString(36)}`;
  const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE "${database}"`);
  await admin.end();
  const nats = await startPrivateNats(spec.natsNodes ?? 1);
  const flags = [
    `--namespace=${namespace}`,
    `--entities=${ENTITIES}`,
    `--nats-url=${nats.url}`,
    `--database-url=${databaseUrl(pg, database)}`,
    "--host=127.0.0.1",
    "--log-level=warn",
    `--stream-max-bytes=${256 * 1024 ** 2}`,
    `--dlq-max-bytes=${32 * 1024 ** 2}`,
    // Retries back off to 5 s at most (default 60 s): a scenario's settle time measures nomnom, not the
    // backoff schedule after an outage.
    "--retry-max-ms=5000",
    "--shutdown-drain-ms=1000",
    "--shutdown-timeout-ms=15000",
    ...(spec.natsNodes === 3 ? ["--stream-replicas=3"] : []),
    ...(spec.flags ?? []),
  ];
  const crashes: Crash[] = [];
  const notes: string[] = [];
  const api = createProcess(`${spec.name}-api`, "api", await freePort(), flags, options, { crashes, notes });
  const workers = [
    createProcess(`${spec.name}-worker1`, "worker", await freePort(), flags, options, { crashes, notes }),
    createProcess(`${spec.name}-worker2`, "worker", await freePort(), flags, options, { crashes, notes }),
  ];
  // Named, so that a scenario terminating nomnom's sessions spares the suite's own.
  const sql = postgres(databaseUrl(pg, database), {
    max: 2,
    onnotice: () => {},
    connection: { application_name: "chaos" },
  });
  const system: System = {
    url: `http://127.0.0.1:${api.port}`,
    api,
    workers,
    nats,
    pg,
    database,
    sql,
    namespace,
    crashes,
    notes,
    async close() {
      // Every part is torn down even if another fails: the next scenario needs the ports and the database.
      const results: PromiseSettledResult<unknown>[] = await Promise.allSettled(
        [api, ...workers].map(async (p) => {
          const term = p.signal("SIGTERM");
          const late = setTimeout(() => p.signal("SIGKILL"), 20_000);
          await term.finally(() => clearTimeout(late));
        }),
      );
      results.push(...await Promise.allSettled([sql.end({ timeout: 1 }), nats.close()]));
      const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
      results.push(
        ...await Promise.allSettled([admin.unsafe(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)]),
      );
      await admin.end();
      const failed = results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
      if (failed) throw failed.reason;
    },
  };
  try {
    // The API creates the streams; the workers migrate (under an advisory lock) and bind the consumer.
    await Promise.all([api.start(), ...workers.map((w) => w.start())]);
  } catch (error) {
    await system.close();
    throw error;
  }
  return system;
}
