/**
 * A private nats-server for tests that need to limit, stop or restart NATS without touching the shared one.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import process from "node:process";

export type PrivateNats = {
  url: string;
  /** Stop the server but keep its store (it can be started again). */
  pause(): Promise<void>;
  /** Start it again on the same port with the same store. */
  resume(): Promise<void>;
  /** Stop it for good and remove its store. */
  stop(): Promise<void>;
};

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

/** Start nats-server with JetStream and `jetstream` config lines (e.g. `max_file_store: 8MB`). */
export async function startPrivateNats(jetstreamConfig = ""): Promise<PrivateNats> {
  const dir = await mkdtemp(join(tmpdir(), "nomnom-nats-"));
  const port = await freePort();
  const conf = join(dir, "nats.conf");
  await writeFile(
    conf,
    `listen: 127.0.0.1:${port}\njetstream { store_dir: "${dir}"\n${jetstreamConfig}\n}\n`,
  );
  const url = `nats://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn(process.env.NOMNOM_NATS_SERVER ?? "nats-server", ["-c", conf], { stdio: "ignore" });
    const deadline = Date.now() + 5000;
    for (;;) {
      try {
        await (await connect({ servers: url, reconnect: false })).close();
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`private nats-server did not start: ${error}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  const halt = async () => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child!.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  };
  await launch();
  return {
    url,
    pause: halt,
    resume: launch,
    async stop() {
      await halt();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
