/**
 * The embedded database's own thread (a Worker started by postgres.ts). PGlite is PostgreSQL compiled to
 * WebAssembly and runs a query synchronously on the thread that holds it: on the main thread, its start
 * (10–55 s on a busy machine when it creates the database) and any slow query (a `psql` session, the dashboard's
 * row counts) froze the API and the worker with it. Here it blocks only this thread; the main thread talks to it
 * over pglite-socket's loopback port, like to any PostgreSQL.
 *
 * Protocol: the main thread posts `{ type: "start", dir, assets? }` once, then `{ type: "stop" }`; this thread
 * answers `{ type: "ready", address, ms }` or `{ type: "failed", message }`, and `{ type: "stopped" }`.
 */
import type { PGliteOptions } from "@electric-sql/pglite";

/** PGlite's own files, as Blobs, when the compiled binary embeds them (see build/bun_main.ts). */
export type PgliteAssets = { wasm: Blob; initdb: Blob; data: Blob };

export type ThreadRequest = { type: "start"; dir: string; assets?: PgliteAssets } | { type: "stop" };
export type ThreadAnswer =
  | { type: "ready"; address: string; ms: number }
  | { type: "failed"; message: string }
  | { type: "stopped" };

type WorkerScope = {
  onmessage: ((event: MessageEvent<ThreadRequest>) => void) | null;
  postMessage(message: ThreadAnswer): void;
};
const scope = globalThis as unknown as WorkerScope;

async function assetOptions(assets?: PgliteAssets): Promise<Partial<PGliteOptions>> {
  if (!assets) return {};
  return {
    pgliteWasmModule: await WebAssembly.compile(await assets.wasm.arrayBuffer()),
    initdbWasmModule: await WebAssembly.compile(await assets.initdb.arrayBuffer()),
    fsBundle: assets.data,
  };
}

let stop: (() => Promise<void>) | undefined;

scope.onmessage = async ({ data }) => {
  if (data.type === "stop") {
    await stop?.().catch(() => {});
    scope.postMessage({ type: "stopped" });
    return;
  }
  const started = performance.now();
  try {
    const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([
      import("@electric-sql/pglite"),
      import("@electric-sql/pglite-socket"),
    ]);
    const db = await PGlite.create(data.dir, await assetOptions(data.assets));
    const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 4 });
    await server.start();
    stop = async () => {
      await server.stop();
      await db.close();
    };
    scope.postMessage({
      type: "ready",
      address: server.getServerConn(),
      ms: Math.round(performance.now() - started),
    });
  } catch (error) {
    scope.postMessage({ type: "failed", message: (error as Error).message ?? String(error) });
  }
};
