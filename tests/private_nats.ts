/**
 * A private nats-server for tests that need to limit, stop or restart NATS without touching the shared one: its
 * own loopback port and store directory, removed on dispose (`await using nats = await startPrivateNats()`).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { freePort } from "../src/embedded/nats.ts";
import { type Child, spawnChild } from "./child.ts";

export type PrivateNats = AsyncDisposable & {
  url: string;
  /** The running server process (its log, for assertion messages). */
  child(): Child;
  /** Stop the server but keep its store (it can be started again); SIGKILL: a crash, nothing flushed. */
  pause(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** Start it again on the same port with the same store. */
  resume(): Promise<void>;
};

export type PrivateNatsOptions = {
  /** More top-level server configuration: `tls { … }`, `authorization { … }`, `accounts { … }`. */
  config?: string;
  /** The scheme of `url` (default nats; tls:// for a server that requires TLS). */
  scheme?: "nats" | "tls";
};

/**
 * Start nats-server with JetStream, `jetstream` config lines (e.g. `max_file_store: 8MB`) and, in `options`,
 * more server configuration (TLS, users).
 */
export async function startPrivateNats(
  jetstreamConfig = "",
  options: PrivateNatsOptions = {},
): Promise<PrivateNats> {
  const dir = await mkdtemp(join(tmpdir(), "nomnom-nats-"));
  const port = await freePort();
  const conf = join(dir, "nats.conf");
  await writeFile(
    conf,
    `listen: 127.0.0.1:${port}\njetstream { store_dir: "${dir}"\n${jetstreamConfig}\n}\n${
      options.config ?? ""
    }\n`,
  );
  let child: Child | undefined;
  const launch = async () => {
    child = spawnChild(process.env.NOMNOM_NATS_SERVER ?? "nats-server", ["-c", conf]);
    // Its own word that it accepts clients (JetStream recovered its store first), instead of polling a connect.
    await child.waitForLog(/Server is ready/, { timeoutMs: 10_000 });
  };
  const halt = async (signal: "SIGTERM" | "SIGKILL" = "SIGTERM") => {
    child?.signal(signal);
    await child?.exited;
  };
  try {
    await launch();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `${options.scheme ?? "nats"}://127.0.0.1:${port}`,
    child: () => child!,
    pause: halt,
    resume: launch,
    async [Symbol.asyncDispose]() {
      await halt("SIGTERM");
      await rm(dir, { recursive: true, force: true });
    },
  };
}
