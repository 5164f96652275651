/**
 * The embedded database of the demo: PostgreSQL compiled to WebAssembly (PGlite), persisted under the data
 * dir, and served on a loopback port by pglite-socket so that nomnom talks to it with the same postgres.js code
 * as to a real server. PGlite runs one query at a time; nomnom uses a pool of one connection with it, so a
 * batch transaction and a status query simply take turns (nothing inside a transaction waits on the pool).
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { PGliteOptions } from "@electric-sql/pglite";
import type { Logger } from "../log.ts";
import { lockDataDir } from "./data_dir.ts";

export type EmbeddedPostgres = { url: string; stop(): Promise<void> };

/**
 * Where a compiled binary finds PGlite's own files (set by the binary's entry point, build/bun_main.ts). Run
 * from source, PGlite finds them next to its module.
 */
type PgliteAssets = { wasm: Blob; initdb: Blob; data: Blob };

async function assetOptions(): Promise<Partial<PGliteOptions>> {
  const assets = (globalThis as { __NOMNOM_PGLITE__?: PgliteAssets }).__NOMNOM_PGLITE__;
  if (!assets) return {};
  return {
    pgliteWasmModule: await WebAssembly.compile(await assets.wasm.arrayBuffer()),
    initdbWasmModule: await WebAssembly.compile(await assets.initdb.arrayBuffer()),
    fsBundle: assets.data,
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
  const started = performance.now();
  // Loaded here, not at start: only the embedded demo needs PGlite, and evaluating it cost every role ~20 ms.
  const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([
    import("@electric-sql/pglite"),
    import("@electric-sql/pglite-socket"),
  ]);
  const db = await PGlite.create(dir, await assetOptions());
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 4 });
  await server.start();
  const address = server.getServerConn();
  log.info("embedded postgres ready", {
    data_dir: dir,
    address,
    ms: Math.round(performance.now() - started),
  });
  return {
    url: `postgres://postgres@${address}/postgres`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
