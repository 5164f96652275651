/**
 * The chaos suite's own servers, on free loopback ports, which it may stop and kill: PostgreSQL comes from the
 * test harness (tests/private_postgres.ts); NATS is here, as one nats-server or a three-node JetStream cluster
 * whose nodes can be killed with SIGKILL and started again on their own stores (the harness's private NATS is
 * one node stopped with SIGTERM).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { freePort } from "../src/embedded/nats.ts";
import { type Child, spawnChild } from "../tests/child.ts";
import { type PrivatePostgres, startPrivatePostgres } from "../tests/private_postgres.ts";
import { waitFor } from "../tests/wait.ts";

export { freePort, waitFor };
export type { PrivatePostgres };

/** The suite's PostgreSQL: the harness's, with room for every scenario's connections. */
export function startChaosPostgres(): Promise<PrivatePostgres> {
  return startPrivatePostgres({ settings: { max_connections: "200", shared_buffers: "64MB" } });
}

/** URL of `database` on `pg`. */
export function databaseUrl(pg: PrivatePostgres, database: string): string {
  return Object.assign(new URL(pg.url), { pathname: `/${database}` }).toString();
}

/** One nats-server with its own store; it can be killed and started again on the same store and port. */
export type NatsNode = {
  name: string;
  url: string;
  /** Start it (again), resolving once it says it is ready (JetStream recovered its store first). */
  start(): Promise<void>;
  /** Send `signal` (SIGKILL by default) and wait until it has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  running(): boolean;
};

export type PrivateNats = {
  nodes: NatsNode[];
  /** Every node's client URL, comma-separated (what --nats-url takes). */
  url: string;
  /** Kill every node and remove the stores. */
  close(): Promise<void>;
};

function createNode(name: string, conf: string, url: string): NatsNode {
  let child: Child | undefined;
  let running = false;
  return {
    name,
    url,
    async start() {
      const started = spawnChild(process.env.NOMNOM_NATS_SERVER ?? "nats-server", ["-c", conf]);
      child = started;
      started.exited.then(() => {
        if (child === started) running = false;
      }, () => {});
      await started.waitForLog(/Server is ready/, { timeoutMs: 20_000 });
      running = true;
    },
    async kill(signal = "SIGKILL") {
      if (!child || !running) return;
      running = false;
      child.signal(signal);
      await child.exited.catch(() => {});
    },
    running: () => running,
  };
}

/**
 * `size` nats-servers with JetStream: one alone, or a cluster (each with its server_name and routes to the
 * others). Resolves once JetStream answers (a cluster has elected its meta leader).
 */
export async function startPrivateNats(size: 1 | 3 = 1): Promise<PrivateNats> {
  const dir = await mkdtemp(join(tmpdir(), "nomnom-chaos-nats-"));
  const ports = await Promise.all(
    Array.from({ length: size }, async () => [await freePort(), await freePort()]),
  );
  const nodes = await Promise.all(ports.map(async ([client, cluster], i) => {
    const name = `n${i + 1}`;
    const routes = ports.filter((_, j) => j !== i).map(([, c]) => `"nats-route://127.0.0.1:${c}"`);
    const conf = join(dir, `${name}.conf`);
    await writeFile(
      conf,
      [
        `server_name: ${name}`,
        `listen: 127.0.0.1:${client}`,
        `jetstream { store_dir: "${join(dir, name)}" }`,
        size > 1
          ? `cluster { name: chaos, listen: 127.0.0.1:${cluster}, routes: [${routes.join(", ")}] }`
          : "",
      ].join("\n") + "\n",
    );
    return createNode(name, conf, `nats://127.0.0.1:${client}`);
  }));
  const close = async () => {
    for (const n of nodes) await n.kill();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(nodes.map((n) => n.start()));
    const nc = await connect({ servers: nodes.map((n) => n.url) });
    try {
      // A cluster answers JetStream requests only once it has elected its meta leader.
      await waitFor("JetStream to answer", () => jetstreamManager(nc), 30_000);
    } finally {
      await nc.close();
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { nodes, url: nodes.map((n) => n.url).join(","), close };
}
