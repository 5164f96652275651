/**
 * The embedded NATS of the demo: a `nats-server` child process with JetStream, on a free loopback port, its
 * store under the data dir. A small shell watchdog sits between nomnom and the server so that it dies with
 * nomnom even when nomnom is killed outright (SIGKILL, crash): no orphan server is left behind. Both run in
 * their own process group: a Ctrl-C in a terminal signals the whole foreground group, and the server must
 * outlive nomnom's drain — nomnom stops it last.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { connect } from "@nats-io/transport-node";
import type { Logger } from "../log.ts";
import { lockDataDir } from "./data_dir.ts";

export type EmbeddedNats = { url: string; stop(): Promise<void> };

/** Thrown when no nats-server can be found; says how to get one. */
export class NatsServerNotFoundError extends Error {
  override name = "NatsServerNotFoundError";
}

// \`sh -c\` without job control starts \`&\` commands with SIGINT ignored (POSIX), so the server itself only
// stops on the TERM sent here; the watchdog exits on TERM or INT, whoever sends it.
const WATCHDOG = `
"$NOMNOM_NATS_BIN" "$@" & server=$!
trap 'kill $server 2>/dev/null; wait $server; exit 0' TERM INT
while kill -0 "$NOMNOM_PARENT" 2>/dev/null && kill -0 $server 2>/dev/null; do sleep 0.5; done
kill $server 2>/dev/null; wait $server`;

/** The nats-server to run: NOMNOM_NATS_SERVER, else the one on PATH. */
export function findNatsServer(explicit: string | undefined): string {
  const candidate = explicit ?? "nats-server";
  try {
    execFileSync(candidate, ["--version"], { stdio: "ignore" });
    return candidate;
  } catch {
    throw new NatsServerNotFoundError(
      `No nats-server found${
        explicit ? ` at NOMNOM_NATS_SERVER=${explicit}` : " on PATH"
      }. The demo starts one ` +
        `itself: install it (Debian/Ubuntu: apt-get install nats-server; macOS: brew install nats-server; others: ` +
        `https://docs.nats.io/running-a-nats-service/introduction/installation) or set NOMNOM_NATS_SERVER to its ` +
        `path — or point --nats-url (NATS_URL) at a running NATS with JetStream.`,
    );
  }
}

/** A free TCP port on the loopback interface (the OS picks it; free when this resolves). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** How many of nats-server's last stderr lines a start error quotes. */
const STDERR_LINES = 20;

/**
 * Start nats-server with JetStream, its store in `dataDir/nats`; resolves once it accepts connections. Takes
 * the data dir's lock (DataDirLockedError when another nomnom holds it) until stopped.
 */
export async function startEmbeddedNats(dataDir: string, binary: string, log: Logger): Promise<EmbeddedNats> {
  const unlock = await lockDataDir(dataDir);
  try {
    return await startServer(dataDir, binary, log, unlock);
  } catch (error) {
    await unlock();
    throw error;
  }
}

async function startServer(
  dataDir: string,
  binary: string,
  log: Logger,
  unlock: () => Promise<void>,
): Promise<EmbeddedNats> {
  const store = join(dataDir, "nats");
  await mkdir(store, { recursive: true });
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  const child: ChildProcess = spawn("sh", [
    "-c",
    WATCHDOG,
    "nats-watchdog",
    "-a",
    "127.0.0.1",
    "-p",
    String(port),
    "-js",
    "-sd",
    store,
  ], {
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
    env: { ...process.env, NOMNOM_NATS_BIN: binary, NOMNOM_PARENT: String(process.pid) },
  });
  // The last lines of its log (stderr), for the error when it does not start. Read all along, so that the
  // pipe never fills and blocks the server.
  const stderr: string[] = [];
  let partial = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop()!;
    stderr.push(...lines.filter((l) => l.trim() !== ""));
    stderr.splice(0, Math.max(0, stderr.length - STDERR_LINES));
  });
  // "close": the process has exited and its stderr is fully read.
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const started = performance.now();
  for (;;) {
    // The deadline is judged by when the failed attempt began, not when its failure is seen: PGlite's start
    // (running beside this wait) can block the event loop for 10 s and more on a loaded machine, and an
    // attempt refused before the server listened must not end the wait without a fresh one after the block.
    const attempted = performance.now();
    try {
      await (await connect({ servers: url, reconnect: false })).close();
      break;
    } catch (error) {
      if (child.exitCode !== null || attempted - started > 10_000) {
        const gaveUp = child.exitCode === null;
        if (gaveUp) stopGroup(child);
        await exited;
        const tail = [...stderr, partial].filter((l) => l.trim() !== "").map((l) => `  ${l}`).join("\n");
        throw new Error(
          `The embedded nats-server (${binary}, store ${store}) did not start: ${
            gaveUp
              ? `no connection within 10 s (${(error as Error).message})`
              : `it exited (${child.exitCode})`
          }. Its last output:\n${tail || "  (none)"}`,
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  log.info("embedded nats ready", { url, store, ms: Math.round(performance.now() - started) });
  return {
    url,
    async stop() {
      stopGroup(child);
      await exited;
      await unlock();
    },
  };
}

/** TERM to the watchdog's whole group: the server stops at once, not after the watchdog's next sleep. */
function stopGroup(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid!, "SIGTERM");
  } catch {
    child.kill("SIGTERM");
  }
}
