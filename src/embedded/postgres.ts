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
 * Open (or create) the database in `dataDir/pg` and serve it on 127.0.0.1 (a free port). Takes the data dir's
 * lock (DataDirLockedError when another nomnom holds it) until stopped.
 */
export async function startEmbeddedPostgres(dataDir: string, log: Logger): Promise<EmbeddedPostgres> {
  const unlock = await lockDataDir(dataDir);
  try {
    const running = await startServer(dataDir, log);
    return {
      url: running.url,
      async stop() {
        await running.stop();
        await unlock();
      },
    };
  } catch (error) {
    await unlock();
    throw error;
  }
}

async function startServer(dataDir: string, log: Logger): Promise<EmbeddedPostgres> {
  const dir = join(dataDir, "pg");
  await mkdir(dir, { recursive: true });
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
  send({ type: "start", dir, assets: embedded ? await copyAssets(embedded.assets) : undefined });
  const answer = await next();
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
      send({ type: "stop" });
      await next();
      thread.terminate();
    },
  };
}
