/**
 * A private PostgreSQL server for tests that must stop, restart or reconfigure it (faults, TLS) without touching
 * the shared one: initdb + pg_ctl as user postgres (the server refuses to run as root), on a free loopback port,
 * in its own temporary directory, removed on dispose (`await using pg = await startPrivatePostgres()`).
 */
import { existsSync } from "node:fs";
import { chown, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { freePort } from "../src/embedded/nats.ts";
import { runChild } from "./child.ts";

export type PrivatePostgres = AsyncDisposable & {
  /** Superuser URL of its `postgres` database (trust authentication unless `hba` says otherwise). */
  url: string;
  port: number;
  /** The data directory (postgresql.conf, pg_hba.conf and the `files` live here). */
  dataDir: string;
  /** Stop the server (`fast`: clients are cut; `immediate`: a crash) and keep its data. */
  pause(mode?: "fast" | "immediate"): Promise<void>;
  /** Start it again on the same port with the same data. */
  resume(): Promise<void>;
  /** The server's log so far, for assertion messages. */
  log(): Promise<string>;
};

export type PrivatePostgresOptions = {
  /** Extra server settings (`-c name=value`), e.g. `{ ssl: "on", ssl_cert_file: "server.crt" }`. */
  settings?: Record<string, string>;
  /** Files written into the data directory, owned by postgres with mode 0600, before the first start. */
  files?: Record<string, string>;
  /** Lines that replace pg_hba.conf (default: trust for every local and loopback connection). */
  hba?: string[];
  /**
   * Serve TLS with this certificate and key (PEM): `ssl=on` with them as server.crt and server.key in the data
   * directory (the key owned by postgres, mode 0600, or the server refuses it).
   */
  tls?: { cert: string; key: string };
};

const USER = "postgres";

/**
 * Where initdb and pg_ctl are: NOMNOM_PG_BIN, else the newest /usr/lib/postgresql/<version>/bin (Debian keeps
 * them off PATH), else PATH.
 */
async function serverBinary(name: string): Promise<string> {
  if (process.env.NOMNOM_PG_BIN) return join(process.env.NOMNOM_PG_BIN, name);
  const versions = await readdir("/usr/lib/postgresql").catch(() => [] as string[]);
  const newest = versions.filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
    .map((v) => join("/usr/lib/postgresql", v, "bin", name)).find((path) => existsSync(path));
  return newest ?? name;
}

/** Run a command as the postgres user; throws with its output unless it exits 0. */
async function asPostgres(command: string, args: string[]): Promise<string> {
  const r = await runChild("runuser", ["-u", USER, "--", command, ...args]);
  if (r.code !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

/** initdb a new cluster and start it; resolves once it accepts connections. */
export async function startPrivatePostgres(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  // mktemp as postgres: the directory must be its own, and tmpdir() is writable by everyone.
  const dir = (await asPostgres("mktemp", ["-d", join(tmpdir(), "nomnom-pg-XXXXXX")])).trim();
  const dataDir = join(dir, "data");
  const logFile = join(dir, "postgres.log");
  const port = await freePort();
  const settings = {
    listen_addresses: "127.0.0.1",
    port: String(port),
    unix_socket_directories: dir,
    // A test server's data is thrown away: durability only costs time.
    fsync: "off",
    ...(options.tls ? { ssl: "on", ssl_cert_file: "server.crt", ssl_key_file: "server.key" } : {}),
    ...options.settings,
  };
  const [initdb, pgCtlBinary] = await Promise.all([serverBinary("initdb"), serverBinary("pg_ctl")]);
  const pgCtl = (args: string[]) => asPostgres(pgCtlBinary, ["-D", dataDir, ...args]);
  const start = async () => {
    const flags = Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`).join(" ");
    try {
      await pgCtl(["-l", logFile, "-w", "-t", "60", "-o", flags, "start"]);
    } catch (error) {
      const log = await readFile(logFile, "utf8").catch(() => "");
      throw new Error(`${(error as Error).message}\nserver log:\n${log}`);
    }
  };
  const stop = (mode: "fast" | "immediate") => pgCtl(["-w", "-m", mode, "stop"]);
  try {
    await asPostgres(initdb, ["-D", dataDir, "-U", USER, "--auth=trust", "--no-sync", "-E", "UTF8"]);
    const { uid, gid } = await postgresIds();
    const files = {
      ...(options.tls ? { "server.crt": options.tls.cert, "server.key": options.tls.key } : {}),
      ...options.files,
      ...(options.hba ? { "pg_hba.conf": options.hba.join("\n") + "\n" } : {}),
    };
    for (const [name, content] of Object.entries(files)) {
      const path = join(dataDir, name);
      await writeFile(path, content, { mode: 0o600 });
      await chown(path, uid, gid);
    }
    await start();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  let running = true;
  return {
    url: `postgres://${USER}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    async pause(mode = "fast") {
      await stop(mode);
      running = false;
    },
    async resume() {
      await start();
      running = true;
    },
    log: () => readFile(logFile, "utf8"),
    async [Symbol.asyncDispose]() {
      if (running) await stop("immediate").catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all(["-u", "-g"].map(async (flag) => {
    const r = await runChild("id", [flag, USER]);
    return Number(r.stdout.trim());
  }));
  return { uid, gid };
}
