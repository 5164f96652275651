/**
 * The chaos suite's own servers, on free loopback ports, which it may stop and kill: a PostgreSQL instance
 * (initdb + pg_ctl as user postgres, never the shared one), a single nats-server and a three-node JetStream
 * cluster, each with its own store so that a killed server restarts on what it had written.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { chown, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { promisify } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

const run = promisify(execFile);

/** A loopback port nobody listens on (closed again before its user takes it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Poll `check` until it is truthy; throws naming `what` after `timeoutMs`. */
export async function until<T>(what: string, check: () => Promise<T> | T, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---------- PostgreSQL ----------

/** How pg_ctl stops the server: `fast` (clean), `immediate` (no checkpoint: crash recovery at the next start). */
export type PgStopMode = "fast" | "immediate";

export type PrivatePostgres = {
  /** URL of database `postgres` as user postgres (trust auth). */
  url: string;
  /** URL of another database on this server. */
  urlOf(database: string): string;
  stop(mode?: PgStopMode): Promise<void>;
  start(): Promise<void>;
  /** `pg_ctl restart -m <mode>`. */
  restart(mode?: PgStopMode): Promise<void>;
  /** Start it unless it runs (after a fault that failed half-way). */
  ensureRunning(): Promise<void>;
  /** Stop for good and remove the data directory. */
  close(): Promise<void>;
};

/**
 * A PostgreSQL server program: on PATH, else in Debian's /usr/lib/postgresql/<version>/bin (the newest), where
 * the postgresql package puts initdb and pg_ctl without linking them onto PATH.
 */
function findPgProgram(name: string): string {
  const onPath = (process.env.PATH ?? "").split(":").map((dir) => join(dir, name)).find((f) => existsSync(f));
  if (onPath) return onPath;
  const versions = existsSync("/usr/lib/postgresql")
    ? readdirSync("/usr/lib/postgresql").sort((a, b) => Number(b) - Number(a))
    : [];
  const found = versions.map((v) => `/usr/lib/postgresql/${v}/bin/${name}`).find((f) => existsSync(f));
  if (!found) {
    throw new Error(`${name} not found on PATH or in /usr/lib/postgresql: apt-get install postgresql`);
  }
  return found;
}

/** pg_ctl and initdb refuse to run as root: as root they run as user postgres. */
async function asPostgres(command: string, args: string[]) {
  const program = findPgProgram(command);
  const [cmd, full] = process.getuid?.() === 0
    ? ["runuser", ["-u", "postgres", "--", program, ...args]]
    : [program, args];
  return await run(cmd, full, { maxBuffer: 1 << 22 });
}

/** initdb a fresh cluster in a temp dir and start it on a free port (fsync off: a killed server, not the OS). */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = await mkdtemp(join(tmpdir(), "nomnom-chaos-pg-"));
  if (process.getuid?.() === 0) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    await chown(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const data = join(dir, "data");
  await asPostgres("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]);
  const port = await freePort();
  const options = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses=127.0.0.1",
    "-c fsync=off",
    "-c max_connections=200",
    "-c shared_buffers=64MB",
  ].join(" ");
  const log = join(dir, "postgres.log");
  const ctl = (...args: string[]) => asPostgres("pg_ctl", ["-D", data, "-l", log, "-o", options, ...args]);
  await ctl("-w", "start");
  const urlOf = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    url: urlOf("postgres"),
    urlOf,
    stop: async (mode = "fast") => void await ctl("-w", "-m", mode, "stop"),
    start: async () => void await ctl("-w", "start"),
    restart: async (mode = "fast") => void await ctl("-w", "-m", mode, "restart"),
    async ensureRunning() {
      // pg_ctl status exits 3 when no server runs in the data directory.
      if (await ctl("status").then(() => false, () => true)) await ctl("-w", "start");
    },
    async close() {
      await ctl("-w", "-m", "immediate", "stop").catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// ---------- NATS ----------

/** One nats-server process with its own store; it can be killed and started again on the same store and port. */
export type NatsNode = {
  name: string;
  url: string;
  /** Start it (again), resolving once it accepts clients. */
  start(): Promise<void>;
  /** Send `signal` and wait until it has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  running(): boolean;
};

export type PrivateNats = {
  nodes: NatsNode[];
  /** Every node's client URL, comma-separated (what --nats-url takes). */
  url: string;
  /** Kill every node and remove the stores. */
  close(): Promise<void>;
};

async function startNode(name: string, conf: string, url: string): Promise<NatsNode> {
  let child: ChildProcess | undefined;
  const node: NatsNode = {
    name,
    url,
    async start() {
      child = spawn(process.env.NOMNOM_NATS_SERVER ?? "nats-server", ["-c", conf], { stdio: "ignore" });
      await until(`nats-server ${name} to accept clients`, async () => {
        if (child!.exitCode !== null) throw new Error(`nats-server ${name} exited with ${child!.exitCode}`);
        await (await connect({ servers: url, reconnect: false })).close();
        return true;
      }, 15_000);
    },
    async kill(signal = "SIGKILL") {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child!.once("exit", r));
      process.kill(child.pid!, signal);
      await exited;
    },
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
  };
  await node.start();
  return node;
}

/**
 * `size` nats-servers with JetStream: one alone, or a cluster (each with its server_name, routes to the
 * others). Resolves once JetStream answers (a cluster has elected its meta leader).
 */
export async function startPrivateNats(size: 1 | 3 = 1): Promise<PrivateNats> {
  const dir = await mkdtemp(join(tmpdir(), "nomnom-chaos-nats-"));
  const ports = await Promise.all(
    Array.from({ length: size }, async () => [await freePort(), await freePort()]),
  );
  const nodes: NatsNode[] = [];
  const starting = ports.map(async ([client, cluster], i) => {
    const name = `n${i + 1}`;
    const routes = ports.filter((_, j) => j !== i).map(([, c]) => `"nats-route://127.0.0.1:${c}"`);
    const conf = join(dir, `${name}.conf`);
    await writeFile(
      conf,
      [
        `server_name: ${name}`,
        `listen: 127.0.0.1:${client}`,
        `jetstream { store_dir: "${join(dir, name)}" }`,
        size > 1
          ? `cluster { name: chaos, listen: 127.0.0.1:${cluster}, routes: [${routes.join(", ")}] }`
          : "",
      ].join("\n") + "\n",
    );
    nodes[i] = await startNode(name, conf, `nats://127.0.0.1:${client}`);
  });
  await Promise.all(starting);
  const url = nodes.map((n) => n.url).join(",");
  const nc = await connect({ servers: nodes.map((n) => n.url) });
  try {
    // A cluster answers JetStream requests only once it has elected its meta leader.
    await until("JetStream to answer", () => jetstreamManager(nc), 30_000);
  } finally {
    await nc.close();
  }
  return {
    nodes,
    url,
    async close() {
      for (const n of nodes) await n.kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
