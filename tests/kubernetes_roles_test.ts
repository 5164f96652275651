/**
 * The manifests against the running program: the API and worker containers' ports are the overlay config's and
 * their probe paths are answered by the running roles, the NATS probes by nats-server, three servers with prod's
 * max_file_store place prod's R3 streams, the entities ConfigMap passes `nomnom validate`, and the migrate Job's
 * command migrates a database given as DATABASE_URL_FILE, as the pod mounts it.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { loadConfig } from "../src/config.ts";
import { readEntityFiles } from "../src/cli/kubernetes.ts";
import { renderKubernetes } from "../src/kubernetes/render.ts";
import { silentLogger } from "../src/log.ts";
import { loadRegistry } from "../src/registry/load.ts";
import { ensureTopology, viewCluster } from "../src/stream/ensure.ts";
import { createTopology } from "../src/stream/topology.ts";
import { VERSION } from "../src/version.ts";
import { runNomnom } from "./child.ts";
import { createTempDir, createTestEnv, waitFor } from "./harness.ts";
import { startNatsCluster } from "./nats_cluster.ts";
import { createTestPki } from "./test_certs.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const DEPLOY = join(ROOT, "deploy/kubernetes");
// deno-lint-ignore no-explicit-any
type Any = any;

/** The dev overlay's objects as kubectl renders them, or the base's as written where kubectl is missing. */
function objects(): Any[] {
  let text: string;
  try {
    text = execFileSync("kubectl", ["kustomize", join(DEPLOY, "overlays/dev")], { encoding: "utf8" });
  } catch {
    text = ["api", "worker", "migrate", "nats"].map((f) =>
      Deno.readTextFileSync(join(DEPLOY, `base/${f}.yaml`))
    )
      .join("\n---\n");
  }
  return parseAllDocuments(text).map((d) => d.toJS()).filter((o) => o?.kind);
}
const deployed = objects();
const find = (kind: string, prefix: string) =>
  deployed.find((o) => o.kind === kind && o.metadata.name.startsWith(prefix));
const settings = Object.fromEntries(
  Deno.readTextFileSync(join(DEPLOY, "overlays/dev/settings.env")).split("\n")
    .filter((l) => l && !l.startsWith("#")).map((
      l,
    ) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
);
const podConfig = loadConfig([], settings);

function probePaths(container: Any): { port: string; path: string }[] {
  return ["startupProbe", "livenessProbe", "readinessProbe"].map((p) => container[p].httpGet);
}

Deno.test("the API's and the worker's ports and probe paths are the ones the roles serve", async () => {
  await using env = await createTestEnv();
  {
    const api = find("Deployment", "nomnom-api").spec.template.spec.containers[0];
    const worker = find("Deployment", "nomnom-worker").spec.template.spec.containers[0];
    assert.deepEqual(api.ports, [{ name: "http", containerPort: podConfig.http.port }]);
    assert.deepEqual(worker.ports, [{ name: "ops", containerPort: podConfig.opsPort }]);
    assert.deepEqual(api.args, ["--role=api"]);
    assert.deepEqual(worker.args, ["--role=worker"]);
    // Port 0 here (8080 may be taken on a shared machine); the port check is the config's, above.
    const runningApi = await env.start("api");
    const runningWorker = await env.start("worker");
    const servers = [
      { container: api, port: runningApi.runtime.server!.port },
      { container: worker, port: runningWorker.runtime.opsServer!.port },
    ];
    for (const { container, port } of servers) {
      for (const probe of probePaths(container)) {
        assert.equal(probe.port, container.ports[0].name, "probes ask the container's own port");
        const response = await fetch(`http://127.0.0.1:${port}${probe.path}`);
        await response.body?.cancel();
        assert.equal(response.status, 200, `${container.args[0]} answers ${probe.path}`);
      }
      const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.match(await metrics.text(), /nomnom_/, "the scrape annotation's path serves metrics");
    }
  }
});

Deno.test("rendered with --https, the roles answer every probe over HTTPS, in the scheme the manifests name", async () => {
  await using pki = await createTestPki();
  const ca = await pki.ca("probe CA");
  const cert = await ca.issue("pod", ["IP:127.0.0.1"]);
  await using env = await createTestEnv();
  {
    const files = renderKubernetes({
      config: loadConfig([], {}),
      registry: await loadRegistry(join(ROOT, "entities")),
      entities: await readEntityFiles(join(ROOT, "entities")),
      version: VERSION,
      https: true,
    });
    const containers = ["api", "worker"].map((role) =>
      parseAllDocuments(files.get(`base/${role}.yaml`)!).map((d) => d.toJS())
        .find((o) => o.kind === "Deployment").spec.template.spec.containers[0]
    );
    // The pods' certificate paths are Secret mounts; here the same settings point at the test's files.
    const tls = [`--tls-cert=${cert.certFile}`, `--tls-key=${cert.keyFile}`];
    const runningApi = await env.start("api", tls);
    const runningWorker = await env.start("worker", tls);
    const ports = [runningApi.runtime.server!.port, runningWorker.runtime.opsServer!.port];
    const client = Deno.createHttpClient({ caCerts: [ca.cert] });
    try {
      for (const [i, container] of containers.entries()) {
        for (
          const probe of ["startupProbe", "livenessProbe", "readinessProbe"].map((p) => container[p].httpGet)
        ) {
          assert.equal(probe.scheme, "HTTPS");
          const response = await fetch(`https://127.0.0.1:${ports[i]}${probe.path}`, { client });
          await response.body?.cancel();
          assert.equal(response.status, 200, `${container.args[0]} answers ${probe.path} over HTTPS`);
        }
        await assert.rejects(fetch(`http://127.0.0.1:${ports[i]}/health`), "no plain HTTP on the TLS port");
      }
    } finally {
      client.close();
    }
  }
});

Deno.test("nats-server answers the NATS StatefulSet's probes on its monitoring port", async () => {
  await using cluster = await startNatsCluster(3);
  {
    const container = find("StatefulSet", "nats").spec.template.spec.containers[0];
    for (const probe of probePaths(container)) {
      assert.equal(probe.port, "monitor");
      for (const node of cluster.nodes) {
        const response = await fetch(`${node.monitorUrl}${probe.path}`);
        assert.equal(response.status, 200, `${node.name} ${probe.path}: ${await response.text()}`);
      }
    }
  }
});

Deno.test("three nats-servers with prod's max_file_store place prod's R3 streams and consumer", async () => {
  const conf = Deno.readTextFileSync(join(DEPLOY, "overlays/prod/nats.conf"));
  const maxFileStore = /^\s*max_file_store: (\d+)$/m.exec(conf)![1];
  const prod = Object.fromEntries(
    Deno.readTextFileSync(join(DEPLOY, "overlays/prod/settings.env")).split("\n")
      .filter((l) => l && !l.startsWith("#")).map((
        l,
      ) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  const topology = createTopology(loadConfig([], prod), await loadRegistry(join(ROOT, "entities")));
  await using cluster = await startNatsCluster(3, `max_file_store: ${maxFileStore}`);
  const nc = await connect({ servers: cluster.url.split(",") });
  try {
    await waitFor("the connection to learn of all three servers", () => nc.info?.connect_urls?.length === 3);
    const jsm = await jetstreamManager(nc);
    await ensureTopology(jsm, topology, silentLogger, viewCluster(nc.info));
    for (const stream of topology.streams) {
      const info = await jsm.streams.info(stream.name);
      assert.equal(info.config.num_replicas, 3, stream.name);
      assert.equal(info.config.max_bytes, stream.max_bytes, `${stream.name} reserves what prod configures`);
    }
    const consumer = await jsm.consumers.info(topology.consumer.stream, topology.consumer.durable_name!);
    assert.equal(consumer.config.num_replicas, 3);
  } finally {
    await nc.close();
  }
});

Deno.test("the entities ConfigMap passes `nomnom validate` where the pods mount it, and the migrate Job's command migrates from DATABASE_URL_FILE", async () => {
  await using tmp = await createTempDir("nomnom-k8s-");
  await using env = await createTestEnv();
  const dir = tmp.path;
  {
    const configMap = find("ConfigMap", "nomnom-entities");
    const data: Record<string, string> = configMap ? configMap.data : Object.fromEntries(
      [...Deno.readDirSync(join(DEPLOY, "base/entities"))].map((e) => [
        e.name,
        Deno.readTextFileSync(join(DEPLOY, "base/entities", e.name)),
      ]),
    );
    const entities = join(dir, "entities");
    await Deno.mkdir(entities);
    for (const [name, text] of Object.entries(data)) await writeFile(join(entities, name), text);
    const job = find("Job", "nomnom-migrate").spec.template.spec;
    const mount = job.containers[0].volumeMounts.find((m: Any) => m.name === "entities");
    assert.equal(mount.mountPath, podConfig.entitiesDir, "mounted where NOMNOM_ENTITIES points");

    const nomnom = (args: string[], extra: Record<string, string>) =>
      runNomnom(args, { env: { ...settings, NOMNOM_ENTITIES: entities, ...extra } });
    const validate = await nomnom(["validate"], {});
    assert.equal(validate.code, 0, validate.stderr);
    assert.match(validate.stdout, /entities from/);

    const urlFile = join(dir, "url");
    await writeFile(urlFile, `${env.config.databaseUrl}\n`);
    const migrate = await nomnom(job.containers[0].args, { DATABASE_URL_FILE: urlFile });
    assert.equal(migrate.code, 0, migrate.stderr);
    assert.match(migrate.stdout, /created table orders/);
  }
});
