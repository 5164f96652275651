/**
 * A private nats-server cluster on loopback for tests that must lose a JetStream node:
 * `await using cluster = await startNatsCluster(n)` starts n servers with routes to each other, JetStream in its
 * own store dir each, a unique server_name and a monitoring port, and waits until every route is up and
 * JetStream has a meta leader. Nodes can be killed and started again with their store, as a crashed pod comes
 * back with its volume. Disposal stops every node and removes the stores.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { freePort } from "../src/embedded/nats.ts";
import { type Child, spawnChild } from "./child.ts";

/** One server of the cluster. */
export type ClusterNode = {
  /** Its server_name: `n0`, `n1`, …; JetStream reports stream leaders by this name. */
  name: string;
  url: string;
  monitorUrl: string;
  /** Whether its process runs. */
  running(): boolean;
};

export type NatsCluster = AsyncDisposable & {
  nodes: ClusterNode[];
  /** Every client URL, comma-separated: what --nats-url takes. */
  url: string;
  /** The node named `name` (a stream's `cluster.leader`). */
  node(name: string): ClusterNode;
  /** SIGKILL the node (no lame duck: a crash), keeping its store. */
  kill(name: string): Promise<void>;
  /** Start a killed node again with its store and wait until it serves JetStream. */
  restart(name: string): Promise<void>;
  /** Each node's output, for failure messages. */
  logs(): string;
};

/**
 * True once the node's monitoring port says it has a route to each of the `peers` running, JetStream is up and
 * the cluster has a meta leader.
 */
async function jetStreamReady(node: ClusterNode, peers: number): Promise<boolean> {
  try {
    const get = async (path: string) =>
      await (await fetch(`${node.monitorUrl}${path}`, { signal: AbortSignal.timeout(1000) })).json();
    const [jsz, routez] = await Promise.all([get("/jsz"), get("/routez")]);
    return routez.num_routes >= peers && Boolean(jsz.meta_cluster?.leader) &&
      (await fetch(`${node.monitorUrl}/healthz`)).status === 200;
  } catch {
    return false;
  }
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number, logs: () => string) {
  const deadline = Date.now() + timeoutMs;
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`NATS cluster: timed out waiting for ${what}\n${logs()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** What startNatsCluster waits for: a meta leader (default), or only each launched node accepting clients. */
export type ClusterStart = { until?: "meta leader" | "listening"; launch?: number };

/**
 * Start `n` clustered JetStream servers on loopback (`jetstreamConfig`: extra lines, e.g. max_file_store).
 * `launch` starts only that many of them (the rest can be `restart`ed); `until: "listening"` returns as soon
 * as each accepts clients, before the cluster has elected its meta leader (a role starting with the cluster).
 */
export async function startNatsCluster(
  n = 3,
  jetstreamConfig = "",
  { until: ready = "meta leader", launch: count = n }: ClusterStart = {},
): Promise<NatsCluster> {
  const dir = await mkdtemp(join(tmpdir(), "nomnom-cluster-"));
  const specs = [];
  for (let i = 0; i < n; i++) {
    specs.push({ name: `n${i}`, port: await freePort(), cluster: await freePort(), http: await freePort() });
  }
  const children = new Map<string, Child>();
  const nodes: ClusterNode[] = [];
  const configs = new Map<string, string>();
  for (const spec of specs) {
    const store = join(dir, spec.name);
    await mkdir(store);
    const routes = specs.filter((s) => s !== spec).map((s) => `nats-route://127.0.0.1:${s.cluster}`);
    const conf = join(dir, `${spec.name}.conf`);
    await writeFile(
      conf,
      [
        `server_name: ${spec.name}`,
        `listen: 127.0.0.1:${spec.port}`,
        `http: 127.0.0.1:${spec.http}`,
        `jetstream { store_dir: "${store}"\n${jetstreamConfig}\n}`,
        `cluster { name: nomnom-test, listen: 127.0.0.1:${spec.cluster}, routes: [${routes.join(", ")}] }`,
      ].join("\n"),
    );
    configs.set(spec.name, conf);
    nodes.push({
      name: spec.name,
      url: `nats://127.0.0.1:${spec.port}`,
      monitorUrl: `http://127.0.0.1:${spec.http}`,
      running: () => running.has(spec.name),
    });
  }
  const running = new Set<string>();
  const showLogs = () => [...children.values()].map((c) => c.output()).join("\n");
  const launch = (name: string) => {
    const child = spawnChild(process.env.NOMNOM_NATS_SERVER ?? "nats-server", ["-c", configs.get(name)!]);
    children.set(name, child);
    running.add(name);
    child.exited.then(() => running.delete(name), () => running.delete(name));
  };
  const node = (name: string) => {
    const found = nodes.find((x) => x.name === name);
    if (!found) throw new Error(`NATS cluster has no node "${name}" (nodes: ${nodes.map((x) => x.name)})`);
    return found;
  };
  const halt = async (name: string, signal: NodeJS.Signals) => {
    const child = children.get(name);
    if (!child || !running.has(name)) return;
    child.signal(signal);
    await child.exited;
    running.delete(name);
  };
  const stop = async () => {
    await Promise.all(nodes.map((x) => halt(x.name, "SIGTERM")));
    await rm(dir, { recursive: true, force: true });
  };
  for (const spec of specs.slice(0, count)) launch(spec.name);
  const cluster: NatsCluster = {
    nodes,
    url: nodes.map((x) => x.url).join(","),
    node,
    kill: (name) => halt(name, "SIGKILL"),
    async restart(name) {
      launch(name);
      const peers = nodes.filter((x) => x.name !== name && x.running()).length;
      await until(
        `${name} to serve JetStream again`,
        () => jetStreamReady(node(name), peers),
        30_000,
        showLogs,
      );
    },
    [Symbol.asyncDispose]: stop,
    logs: showLogs,
  };
  try {
    if (ready === "listening") {
      await Promise.all(
        [...children.values()].map((c) => c.waitForLog(/Server is ready/, { timeoutMs: 30_000 })),
      );
      return cluster;
    }
    await until(
      "a JetStream meta leader",
      async () => {
        const ready = await Promise.all(nodes.map((x) => jetStreamReady(x, n - 1)));
        return ready.every(Boolean);
      },
      30_000,
      showLogs,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return cluster;
}
