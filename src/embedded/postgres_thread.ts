/**
 * The embedded database's own thread (a Worker started by postgres.ts). PGlite is PostgreSQL compiled to
 * WebAssembly and runs a query synchronously on the thread that holds it: on the main thread, its start
 * (10–55 s on a busy machine when it creates the database) and any slow query (a `psql` session, the dashboard's
 * row counts) froze the API and the worker with it. Here it blocks only this thread; the main thread talks to it
 * over pglite-socket's loopback port, like to any PostgreSQL.
 *
 * A new database is not made by initdb, which in WebAssembly takes 6–20 s here: an empty data dir is filled from
 * pgdata_template.tar.gz, the data directory PGlite's own initdb made (build/pglite_template.ts), in about a
 * second. A marker file says an unpack is under way, so a start killed halfway starts afresh next time.
 *
 * Protocol: the main thread posts `{ type: "load", assets? }` as soon as the thread exists (PGlite's code and
 * WebAssembly load while the main thread locks the data dir and loads the rest of nomnom), then
 * `{ type: "start", dir }` once, then `{ type: "stop" }`; this thread answers `{ type: "ready", address, ms,
 * created }` or `{ type: "failed", message }`, and `{ type: "stopped" }`.
 */
import { existsSync } from "node:fs";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { PGlite, PGliteOptions } from "@electric-sql/pglite";
import { unpackTemplate } from "./template_archive.ts";

/** PGlite's own files and the data dir template, as Blobs, when the compiled binary embeds them (build/bun_main.ts). */
export type PgliteAssets = { wasm: Blob; initdb: Blob; data: Blob; template: Blob };

/** How the database came to be: opened as it was, unpacked from the template, or made by initdb (fallback). */
export type Created = "existing" | "template" | "initdb";

export type ThreadRequest =
  | { type: "load"; assets?: PgliteAssets }
  | { type: "start"; dir: string }
  | { type: "stop" };
export type ThreadAnswer =
  | { type: "ready"; address: string; ms: number; created: Created; templateError?: string }
  | { type: "failed"; message: string }
  | { type: "stopped" };

/** In the data dir while the template is unpacked: found at a start, that unpack did not finish. */
const UNPACKING = ".nomnom-unpacking";

type WorkerScope = {
  onmessage: ((event: MessageEvent<ThreadRequest>) => void) | null;
  postMessage(message: ThreadAnswer): void;
};
const scope = globalThis as unknown as WorkerScope;

async function assetOptions(assets?: PgliteAssets): Promise<Partial<PGliteOptions>> {
  if (!assets) return {};
  // Compiled once here: a fallback to initdb after a failed unpack creates PGlite a second time.
  return {
    pgliteWasmModule: await WebAssembly.compile(await assets.wasm.arrayBuffer()),
    initdbWasmModule: await WebAssembly.compile(await assets.initdb.arrayBuffer()),
    fsBundle: assets.data,
  };
}

async function template(assets?: PgliteAssets): Promise<Uint8Array> {
  if (assets) return new Uint8Array(await assets.template.arrayBuffer());
  return await readFile(new URL("./pgdata_template.tar.gz", import.meta.url));
}

/** What a start needs of PGlite: its class, the options that find its files, the socket server. */
type Loaded = Awaited<ReturnType<typeof load>>;

async function load(assets?: PgliteAssets) {
  const [{ PGlite }, options, { PGLiteSocketServer }] = await Promise.all([
    import("@electric-sql/pglite"),
    assetOptions(assets),
    import("@electric-sql/pglite-socket"),
  ]);
  return { PGlite, options, PGLiteSocketServer };
}

/** Open the database in `dir`, creating it from the template when `dir` holds none (initdb if that fails). */
async function open(
  dir: string,
  loading: Promise<Loaded>,
  assets?: PgliteAssets,
): Promise<{ db: PGlite; created: Created; templateError?: string }> {
  const marker = join(dir, UNPACKING);
  if (existsSync(marker)) await emptyDir(dir);
  if (existsSync(join(dir, "PG_VERSION"))) {
    const { PGlite, options } = await loading;
    return { db: await PGlite.create(dir, options), created: "existing" };
  }
  if ((await readdir(dir)).length > 0) {
    // Not a database and not empty: initdb there says what is wrong better than an unpack over it would.
    const { PGlite, options } = await loading;
    return { db: await PGlite.create(dir, options), created: "initdb" };
  }
  await writeFile(marker, "");
  try {
    // The files are written while PGlite's code and WebAssembly load; PGlite then opens them as a database.
    await template(assets).then((gz) => unpackTemplate(gz, dir));
    const { PGlite, options } = await loading;
    const db = await PGlite.create(dir, options);
    await rm(marker);
    return { db, created: "template" };
  } catch (error) {
    // A template PGlite cannot read (made by another version: build/pglite_template.ts says how to renew it)
    // costs only time: the database is made the slow way, and the reason is logged.
    await emptyDir(dir);
    const templateError = (error as Error).message ?? String(error);
    const { PGlite, options } = await loading;
    return { db: await PGlite.create(dir, options), created: "initdb", templateError };
  }
}

async function emptyDir(dir: string): Promise<void> {
  for (const entry of await readdir(dir)) await rm(join(dir, entry), { recursive: true, force: true });
}

let stop: (() => Promise<void>) | undefined;
/** PGlite loading, from the "load" message on, and the binary's files it came with. */
let loading: Promise<Loaded> | undefined;
let assets: PgliteAssets | undefined;

scope.onmessage = async ({ data }) => {
  if (data.type === "load") {
    assets = data.assets;
    loading = load(data.assets);
    loading.catch(() => {}); // reported by the start that awaits it
    return;
  }
  if (data.type === "stop") {
    await stop?.().catch(() => {});
    scope.postMessage({ type: "stopped" });
    return;
  }
  const started = performance.now();
  try {
    const { db, created, templateError } = await open(data.dir, loading!, assets);
    const { PGLiteSocketServer } = await loading!;
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
      created,
      templateError,
    });
  } catch (error) {
    scope.postMessage({ type: "failed", message: (error as Error).message ?? String(error) });
  }
};
