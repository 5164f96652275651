/**
 * The system under test: one API and two workers, each a separate nomnom child process, against the suite's own
 * nats-server(s) and its own PostgreSQL (a fresh database per scenario). Each process keeps its port across
 * restarts, logs to a file, and an exit the scenario did not ask for is recorded as a crash.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import postgres from "postgres";
import { nomnomCommand, type NomnomRuntime } from "../bench/nomnom_command.ts";
import { freePort, type PrivateNats, type PrivatePostgres, startPrivateNats, until } from "./services.ts";

const ROOT = new URL("../", import.meta.url).pathname;
/** The TPC-H entities of the bench: orders with 1–7 derived line items each. */
export const ENTITIES = join(ROOT, "tests/fixtures/nomnom-tpch/entities");

/** How the suite runs nomnom. */
export type RunOptions = { runtime: NomnomRuntime; binary?: string; logDir: string };

/** An exit nobody asked for: the process died by itself. */
export type Crash = { process: string; code: number | null; signal: string | null; log: string };

/** One nomnom process; `port` is its API port (api) or ops port (worker), the same after every restart. */
export type NomnomProcess = {
  name: string;
  role: "api" | "worker";
  port: number;
  pid(): number | undefined;
  running(): boolean;
  /** Start it (again) and wait for /ready. */
  start(): Promise<void>;
  /** Send a signal that ends it; resolves with the exit code (or signal) once it has exited. */
  signal(signal: NodeJS.Signals): Promise<number | string | null>;
  /** SIGSTOP / SIGCONT: the process freezes (its connections stay open) and thaws. */
  pause(): void;
  resume(): void;
  /** The last lines it logged. */
  logTail(): string;
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

const TAIL = 64 * 1024;

function createProcess(
  name: string,
  role: "api" | "worker",
  port: number,
  args: string[],
  options: RunOptions,
  crashes: Crash[],
  notes: string[],
): NomnomProcess {
  let child: ChildProcess | undefined;
  let tail = "";
  let partial = "";
  let errors = 0;
  let exited: Promise<number | string | null> = Promise.resolve(null);
  /** Set when the scenario sends a signal: that exit is not a crash. */
  let expected = false;
  const log = createWriteStream(join(options.logDir, `${name}.log`), { flags: "a" });
  /** One start: spawn, then wait for /ready (rejects at once if the process exits first). */
  const launch = async () => {
    const { command, args: pre, env } = await nomnomCommand(options.runtime, options.binary);
    const portFlag = role === "api" ? `--port=${port}` : `--ops-port=${port}`;
    const started = spawn(command, [...pre, `--role=${role}`, portFlag, ...args], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...env, LOG_FORMAT: "json" },
    });
    child = started;
    expected = false;
    let ready = false;
    started.stderr!.on("data", (chunk: Buffer) => {
      log.write(chunk);
      tail = (tail + chunk.toString()).slice(-TAIL);
      const lines = (partial + chunk.toString()).split("\n");
      partial = lines.pop()!;
      errors += lines.filter((l) => l.includes('"level":"error"')).length;
    });
    exited = new Promise((resolve) =>
      started.once("exit", (code, signal) => {
        if (!expected && ready) crashes.push({ process: name, code, signal, log: tail.slice(-4000) });
        resolve(code ?? signal);
      })
    );
    const answering = until(`${name} to be ready`, async () => {
      const r = await fetch(`http://127.0.0.1:${port}/ready`, { signal: AbortSignal.timeout(2000) });
      await r.body?.cancel();
      return r.ok;
    }, 60_000);
    const died = exited.then((code) => {
      throw new Error(`${name} exited (${code}) before it was ready: ${tail.slice(-1000)}`);
    });
    await Promise.race([answering, died]);
    ready = true;
  };
  const self: NomnomProcess = {
    name,
    role,
    port,
    pid: () => child?.pid,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    async start() {
      // Like an orchestrator restarting a pod whose start failed (exit 1, "a service unreachable at start"):
      // up to three tries, each failure noted; only an exit after the process was ready counts as a crash.
      for (let attempt = 1;; attempt++) {
        try {
          return await launch();
        } catch (error) {
          if (attempt === 3) throw error;
          notes.push(`${name} failed to start (try ${attempt}): ${String(error).slice(0, 300)}`);
          await self.signal("SIGKILL");
        }
      }
    },
    async signal(signal) {
      if (!self.running()) return child?.exitCode ?? child?.signalCode ?? null;
      expected = true;
      // process.kill, not child.kill: under Deno the latter did not deliver a plain, single SIGTERM.
      process.kill(child!.pid!, signal);
      // A frozen process (pause()) gets the signal as it thaws, like a busy one that is told to stop.
      if (signal !== "SIGKILL") process.kill(child!.pid!, "SIGCONT");
      return await exited;
    },
    pause: () => void (self.running() && process.kill(child!.pid!, "SIGSTOP")),
    resume: () => void (self.running() && process.kill(child!.pid!, "SIGCONT")),
    logTail: () => tail,
    errorLines: () => errors,
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
    `--database-url=${pg.urlOf(database)}`,
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
  const api = createProcess(`${spec.name}-api`, "api", await freePort(), flags, options, crashes, notes);
  const workers = [
    createProcess(`${spec.name}-worker1`, "worker", await freePort(), flags, options, crashes, notes),
    createProcess(`${spec.name}-worker2`, "worker", await freePort(), flags, options, crashes, notes),
  ];
  // Named, so that a scenario terminating nomnom's sessions spares the suite's own.
  const sql = postgres(pg.urlOf(database), {
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
