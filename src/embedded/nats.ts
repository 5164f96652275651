/**
 * The embedded NATS of the demo: a `nats-server` child process with JetStream, on a free loopback port, its
 * store under the data dir. A small shell watchdog sits between nomnom and the server so that it dies with
 * nomnom even when nomnom is killed outright (SIGKILL, crash): no orphan server is left behind.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { connect } from "@nats-io/transport-node";
import type { Logger } from "../log.ts";

export type EmbeddedNats = { url: string; stop(): Promise<void> };

/** Thrown when no nats-server can be found; says how to get one. */
export class NatsServerNotFoundError extends Error {
  override name = "NatsServerNotFoundError";
}

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

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Start nats-server with JetStream, its store in `dataDir/nats`; resolves once it accepts connections. */
export async function startEmbeddedNats(dataDir: string, binary: string, log: Logger): Promise<EmbeddedNats> {
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
    stdio: "ignore",
    env: { ...process.env, NOMNOM_NATS_BIN: binary, NOMNOM_PARENT: String(process.pid) },
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const started = performance.now();
  for (;;) {
    try {
      await (await connect({ servers: url, reconnect: false })).close();
      break;
    } catch (error) {
      if (child.exitCode !== null || performance.now() - started > 10_000) {
        child.kill("SIGTERM");
        throw new Error(`The embedded nats-server did not start (${error}). Is ${store} writable?`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  log.info("embedded nats ready", { url, store, ms: Math.round(performance.now() - started) });
  return {
    url,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
