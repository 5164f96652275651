/**
 * The embedded database of the demo: PostgreSQL compiled to WebAssembly (PGlite), persisted under the data
 * dir, and served on a loopback port by pglite-socket so that nomnom talks to it with the same postgres.js code
 * as to a real server. PGlite runs on a thread of its own (postgres_thread.ts), so that its start and a slow
 * query block only that thread, never the API's event loop. PGlite runs one query at a time; nomnom uses a
 * pool of one connection with it, so a batch transaction and a status query simply take turns (nothing inside
 * a transaction waits on the pool).
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../config.ts";
import { ConfigError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { lockDataDir } from "./data_dir.ts";
import type { PgliteAssets, ThreadAnswer, ThreadRequest } from "./postgres_thread.ts";

export type EmbeddedPostgres = { url: string; stop(): Promise<void> };

/**
 * What the compiled binary's entry point (build/bun_main.ts) sets: PGlite's files, and where the thread's module
 * is inside the binary. Run from source, PGlite finds its files next to its module, and the thread is beside this.
 */
type Embedded = { assets: PgliteAssets; thread: string };

/** The Blobs of the binary's files, read into memory (a file-backed Blob may not cross to another thread). */
async function copyAssets(assets: PgliteAssets): Promise<PgliteAssets> {
  const read = async (b: Blob) => new Blob([await b.arrayBuffer()]);
  return {
    wasm: await read(assets.wasm),
    initdb: await read(assets.initdb),
    data: await read(assets.data),
    template: await read(assets.template),
  };
}

/**
 * Whether a role with `config` runs on the embedded database: without --database-url. PGlite speaks no TLS, so
 * a CA file without a URL is a ConfigError.
 */
export function usesEmbeddedPostgres(config: Pick<Config, "databaseUrl" | "postgresCaFile">): boolean {
  if (config.databaseUrl) return false;
  if (config.postgresCaFile) {
    throw new ConfigError(
      "--postgres-ca-file (NOMNOM_POSTGRES_CA_FILE) is set without --database-url (DATABASE_URL): the " +
        "embedded PostgreSQL (PGlite) speaks no TLS. Set --database-url, or unset the CA file.",
    );
  }
  return true;
}

/**
 * Open (or create) the database in `dataDir/pg` and serve it on 127.0.0.1 (a free port). Takes the data dir's
 * lock (DataDirLockedError when another nomnom holds it) until stopped.
 */
export async function startEmbeddedPostgres(dataDir: string, log: Logger): Promise<EmbeddedPostgres> {
  // The thread loads PGlite's code and WebAssembly at once, while the data dir is locked here.
  const thread = startThread();
  let unlock: () => Promise<void>;
  try {
    unlock = await lockDataDir(dataDir);
  } catch (error) {
    thread.terminate();
    throw error;
  }
  try {
    const running = await startServer(thread, dataDir, log);
    let stopped: Promise<void> | undefined;
    return {
      url: running.url,
      // Once: the demo's start stops it on a failure, and the database module on its own stop.
      stop: () => stopped ??= running.stop().then(unlock),
    };
  } catch (error) {
    await unlock();
    throw error;
  }
}

type Thread = {
  send(request: ThreadRequest): void;
  next(): Promise<ThreadAnswer>;
  terminate(): void;
  /** Resolves once the thread has been told to load PGlite (the binary's files are copied first). */
  loading: Promise<void>;
};

/** The database's thread, told at once to load PGlite; its answers in order. */
function startThread(): Thread {
  const embedded = (globalThis as { __NOMNOM_PGLITE__?: Embedded }).__NOMNOM_PGLITE__;
  const thread = new Worker(embedded?.thread ?? new URL("./postgres_thread.ts", import.meta.url).href, {
    type: "module",
  });
  const answers: ThreadAnswer[] = [];
  const waiting: ((answer: ThreadAnswer) => void)[] = [];
  const next = () =>
    new Promise<ThreadAnswer>((resolve) => {
      const ready = answers.shift();
      if (ready) resolve(ready);
      else waiting.push(resolve);
    });
  const deliver = (answer: ThreadAnswer) => {
    const resolve = waiting.shift();
    if (resolve) resolve(answer);
    else answers.push(answer);
  };
  thread.onmessage = (event: MessageEvent<ThreadAnswer>) => deliver(event.data);
  thread.onerror = (event: ErrorEvent) => {
    event.preventDefault();
    deliver({ type: "failed", message: event.message });
  };
  const send = (request: ThreadRequest) => thread.postMessage(request);
  const loading = (embedded ? copyAssets(embedded.assets) : Promise.resolve(undefined))
    .then((assets) => send({ type: "load", assets }));
  return { send, next, terminate: () => thread.terminate(), loading };
}

async function startServer(thread: Thread, dataDir: string, log: Logger): Promise<EmbeddedPostgres> {
  const dir = join(dataDir, "pg");
  const answer = await mkdir(dir, { recursive: true })
    .then(() => thread.loading)
    .then(() => (thread.send({ type: "start", dir }), thread.next()))
    .catch((error) => ({ type: "failed" as const, message: (error as Error).message ?? String(error) }));
  if (answer.type !== "ready") {
    thread.terminate();
    throw new Error(
      `The embedded PostgreSQL (PGlite, data in ${dir}) did not start: ${
        answer.type === "failed" ? answer.message : answer.type
      }. Move that directory away to start afresh, or pass --database-url to use a PostgreSQL server.`,
    );
  }
  if (answer.templateError) {
    log.warn(
      "the data dir template could not be unpacked; the database was made by initdb instead (slower)",
      {
        data_dir: dir,
        error: answer.templateError,
        fix: "run `deno task pglite-template` after upgrading @electric-sql/pglite",
      },
    );
  }
  log.info("embedded postgres ready", {
    data_dir: dir,
    address: answer.address,
    ms: answer.ms,
    created: answer.created,
  });
  return {
    url: `postgres://postgres@${answer.address}/postgres`,
    async stop() {
      thread.send({ type: "stop" });
      await thread.next();
      thread.terminate();
    },
  };
}
