/**
 * No cluster runs here, so deploy/kubernetes/ is checked against the program: it is exactly what
 * `nomnom kubernetes` renders, every object validates against the Kubernetes and KEDA schemas, kustomize renders
 * both overlays, every env var is a nomnom setting, the KEDA trigger names the topology's stream and consumer,
 * grace periods cover drain + shutdown, NATS can hold what the streams reserve, secrets are only referenced, and
 * the migrate Job is renamed whenever its (immutable) pod template changes.
 * (tests/kubernetes_roles_test.ts asks the running roles and NATS for the ports and probe paths.)
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { parseAllDocuments } from "yaml";
import { Deployment, StatefulSet } from "kubernetes-models/apps/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { Job } from "kubernetes-models/batch/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ConfigMap, Namespace, Secret, Service } from "kubernetes-models/v1";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1";
import { describeSettings, loadConfig } from "../src/config.ts";
import { readEntityFiles } from "../src/cli/kubernetes.ts";
import { NATS_ACCOUNT, NATS_PORTS } from "../src/kubernetes/nats.ts";
import {
  overlayContext,
  type OverlayName,
  OVERLAYS,
  type RenderInputs,
  renderKubernetes,
} from "../src/kubernetes/render.ts";
import { loadRegistry } from "../src/registry/load.ts";
import { ENVELOPE_BYTES, storageReservation } from "../src/stream/topology.ts";
import { VERSION } from "../src/version.ts";
import { createTestCertificates } from "./tls_certs.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const DEPLOY = join(ROOT, "deploy/kubernetes");
/** What the committed files were rendered from: nomnom's defaults and the example entities. */
const config = loadConfig([], {});
const registry = await loadRegistry(join(ROOT, "entities"));
const rendered = renderKubernetes({
  config,
  registry,
  entities: await readEntityFiles(join(ROOT, "entities")),
  version: VERSION,
});
const hasKubectl = (() => {
  try {
    execFileSync("kubectl", ["version", "--client"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string }; [key: string]: unknown };
// deno-lint-ignore no-explicit-any
type Any = any;
const MODELS: Record<string, new (data: Any) => { validate(): void }> = {
  "v1/Namespace": Namespace,
  "v1/Service": Service,
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "apps/v1/Deployment": Deployment,
  "apps/v1/StatefulSet": StatefulSet,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "batch/v1/Job": Job,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "keda.sh/v1alpha1/ScaledObject": ScaledObject,
};

function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text).map((d) => d.toJS() as K8sObject).filter((o) =>
    o && o.kind !== "Kustomization"
  );
}

/** The objects an overlay deploys: kubectl's rendering where kubectl exists, else base + overlay files as written. */
function overlayObjects(overlay: OverlayName): K8sObject[] {
  if (hasKubectl) {
    return parseObjects(
      execFileSync("kubectl", ["kustomize", join(DEPLOY, "overlays", overlay)], { encoding: "utf8" }),
    );
  }
  return [...rendered].filter(([p]) =>
    p.endsWith(".yaml") && (p.startsWith("base/") || p.startsWith(`overlays/${overlay}/`))
  )
    .filter(([p]) => !p.startsWith("base/entities/")).flatMap(([, text]) => parseObjects(text));
}

function find(objects: K8sObject[], kind: string, name: string): Any {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `${kind} ${name} is deployed`);
  return found;
}

function settingsEnv(overlay: OverlayName): Record<string, string> {
  const text = rendered.get(`overlays/${overlay}/settings.env`)!;
  return Object.fromEntries(
    text.split("\n").filter((l) => l && !l.startsWith("#")).map((
      l,
    ) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

Deno.test("deploy/kubernetes/ is exactly what `nomnom kubernetes` renders (run it with --out deploy/kubernetes)", async () => {
  assert.deepEqual(await listFiles(DEPLOY), [...rendered.keys()].sort(), "the same files");
  for (const [path, text] of rendered) {
    assert.equal(await readFile(join(DEPLOY, path), "utf8"), text, `${path} is up to date`);
  }
});

Deno.test({
  name: hasKubectl
    ? "kubectl kustomize renders both overlays"
    : "kubectl kustomize renders both overlays (SKIPPED: kubectl is not on PATH; the schema checks use the files as written)",
  ignore: !hasKubectl,
  fn() {
    for (const overlay of Object.keys(OVERLAYS) as OverlayName[]) {
      const kinds = overlayObjects(overlay).map((o) => o.kind);
      for (const kind of ["Deployment", "StatefulSet", "ScaledObject", "Job", "ConfigMap", "NetworkPolicy"]) {
        assert.ok(kinds.includes(kind), `${overlay} renders a ${kind}`);
      }
    }
  },
});

/**
 * Fields of `object` that its schema does not name. kubernetes-models' validators check types and required
 * fields but let unknown fields through, which `kubectl apply` (strict field validation) refuses. Each validator
 * reads every property its schema names and enumerates only maps (labels, a trigger's metadata), so a key of an
 * object it neither read nor enumerated is unknown to the schema.
 */
function unknownFields(Model: (typeof MODELS)[string], object: unknown): string[] {
  const read = new Map<object, { path: string; keys: Set<PropertyKey>; map: boolean }>();
  const wrap = (value: unknown, path: string): unknown => {
    if (!value || typeof value !== "object") return value;
    if (!read.has(value)) read.set(value, { path, keys: new Set(), map: false });
    return new Proxy(value, {
      get(target, key) {
        read.get(target)!.keys.add(key);
        const child = Reflect.get(target, key);
        return typeof key === "string" ? wrap(child, `${path}.${key}`) : child;
      },
      ownKeys(target) {
        read.get(target)!.map = true;
        return Reflect.ownKeys(target);
      },
    });
  };
  try {
    Model.prototype.validate.call(wrap(object, ""));
  } catch {
    // Type errors are the plain validation's to report; here only the fields it read count.
  }
  return [...read].filter(([node, { map }]) => !Array.isArray(node) && !map)
    .flatMap(([node, { path, keys }]) =>
      Object.keys(node).filter((k) => !keys.has(k)).map((k) => `${path}.${k}`.slice(1))
    );
}

Deno.test("every object of both overlays validates against the Kubernetes and KEDA schemas, with no field they do not name", () => {
  for (const overlay of Object.keys(OVERLAYS) as OverlayName[]) {
    for (const object of overlayObjects(overlay)) {
      const Model = MODELS[`${object.apiVersion}/${object.kind}`];
      assert.ok(Model, `${overlay}: ${object.apiVersion} ${object.kind} has a schema to check against`);
      const name = `${overlay}: ${object.kind} ${object.metadata.name}`;
      assert.doesNotThrow(() => new Model(object).validate(), name);
      assert.deepEqual(unknownFields(Model, object), [], `${name}: fields its schema does not name`);
    }
  }
  assert.throws(() =>
    new Deployment({ metadata: { name: "x" }, spec: { replicas: "two" } } as Any).validate()
  );
  // What the plain validation lets through, and this check does not.
  const deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "x", labels: { any: "label" } },
    spec: {
      selector: {},
      replica: 2,
      template: { spec: { containers: [{ name: "a", image: "b", imagePullPolicyy: "Always" }] } },
    },
  };
  assert.doesNotThrow(() => new Deployment(deployment as Any).validate());
  assert.deepEqual(unknownFields(Deployment, deployment), [
    "spec.replica",
    "spec.template.spec.containers.0.imagePullPolicyy",
  ]);
  const scaledObject = {
    apiVersion: "keda.sh/v1alpha1",
    kind: "ScaledObject",
    metadata: { name: "w" },
    spec: {
      scaleTargetRef: { name: "w" },
      maxReplicas: 3,
      triggers: [{ type: "nats-jetstream", metadata: { stream: "s", anything: "x" } }],
    },
  };
  assert.deepEqual(unknownFields(ScaledObject, scaledObject), ["spec.maxReplicas"]);
});

Deno.test("every env var of a nomnom container is a nomnom setting, and settings.env loads as the overlay's config", () => {
  const known = new Set(describeSettings().flatMap((s) => [s.env, ...(s.envFile ? [s.envFile] : [])]));
  for (const overlay of Object.keys(OVERLAYS) as OverlayName[]) {
    const env = settingsEnv(overlay);
    for (const name of Object.keys(env)) {
      assert.ok(known.has(name), `${overlay}/settings.env: ${name} is a setting`);
    }
    assert.deepEqual(loadConfig([], env), overlayContext({ config, registry }, overlay).config);
    for (const object of overlayObjects(overlay).filter((o) => o.metadata.name.startsWith("nomnom-"))) {
      for (const c of (object as Any).spec?.template?.spec?.containers ?? []) {
        for (const { name } of c.env ?? []) {
          assert.ok(known.has(name), `${object.metadata.name}: ${name} is a setting`);
        }
      }
    }
  }
});

Deno.test("the KEDA trigger names the stream and consumer of the topology and the NATS manifests' monitoring endpoint", () => {
  for (const overlay of Object.keys(OVERLAYS) as OverlayName[]) {
    const objects = overlayObjects(overlay);
    const { topology } = overlayContext({ config: loadConfig([], settingsEnv(overlay)), registry }, overlay);
    const trigger = find(objects, "ScaledObject", "nomnom-worker").spec.triggers[0];
    assert.equal(trigger.type, "nats-jetstream");
    assert.equal(trigger.metadata.stream, topology.consumer.stream);
    assert.equal(trigger.metadata.consumer, topology.consumer.durable_name);
    assert.equal(trigger.metadata.account, NATS_ACCOUNT);
    assert.equal(trigger.metadata.useHttps, "false");
    // On a cluster KEDA asks <server_name>.<endpoint host>: the headless Service of the StatefulSet, by FQDN.
    const nats = find(objects, "StatefulSet", "nats");
    const [host, port] = trigger.metadata.natsServerMonitoringEndpoint.split(":");
    assert.equal(host, `${nats.spec.serviceName}.${nats.metadata.namespace ?? "nomnom"}.svc.cluster.local`);
    assert.equal(find(objects, "Service", nats.spec.serviceName).spec.clusterIP, "None");
    const monitor = nats.spec.template.spec.containers[0].ports.find((p: Any) => p.name === "monitor");
    assert.equal(Number(port), monitor.containerPort);
    const conf = rendered.get(`overlays/${overlay}/nats.conf`)!;
    assert.match(conf, new RegExp(`^http_port: ${port}$`, "m"));
    assert.match(conf, /^server_name: \$POD_NAME/m, "server_name is the pod name, as KEDA assumes");
    // With no_advertise (no connect_urls), KEDA takes the first label of each route host in /varz, asks
    // <label>.<endpoint host> for /jsz and keeps the server whose name is the consumer's leader: each label
    // must be a pod's name, so that the name is the pod's DNS name under the headless Service.
    const routes = /routes: \[(.*)\]/.exec(conf)?.[1].split(", ") ?? [];
    assert.deepEqual(
      routes.map((r) => new URL(r).hostname.split(".")[0]),
      routes.map((_, i) => `${nats.metadata.name}-${i}`),
    );
    assert.ok(
      nats.spec.template.spec.containers[0].env.some((e: Any) =>
        e.name === "POD_NAME" && e.valueFrom.fieldRef.fieldPath === "metadata.name"
      ),
    );
  }
});

Deno.test("grace periods cover the configured drain and shutdown timeout, and the API rolls without losing capacity", () => {
  for (const overlay of Object.keys(OVERLAYS) as OverlayName[]) {
    const objects = overlayObjects(overlay);
    const c = loadConfig([], settingsEnv(overlay));
    const api = find(objects, "Deployment", "nomnom-api").spec;
    const worker = find(objects, "Deployment", "nomnom-worker").spec;
    assert.ok(
      api.template.spec.terminationGracePeriodSeconds * 1000 > c.shutdownDrainMs + c.shutdownTimeoutMs,
    );
    assert.ok(worker.template.spec.terminationGracePeriodSeconds * 1000 > c.shutdownTimeoutMs);
    assert.equal(api.strategy.rollingUpdate.maxUnavailable, 0);
    const hpa = find(objects, "HorizontalPodAutoscaler", "nomnom-api").spec;
    if (overlay === "prod") assert.ok(hpa.minReplicas >= 2, "at least two API pods");
    for (const d of [api, worker]) {
      const s = d.template.spec;
      assert.equal(s.securityContext.runAsNonRoot, true);
      assert.equal(s.containers[0].securityContext.readOnlyRootFilesystem, true);
      assert.ok(s.containers[0].resources.requests && s.containers[0].resources.limits.memory);
    }
  }
});

/**
 * The migrate Job each overlay of `files` deploys, with its pod template as JSON: kubectl's rendering (settings
 * and entities ConfigMaps named by their hash, prod's patches applied), or where kubectl is missing the base's
 * template with the settings.env and entities that kustomize would hash into it.
 */
async function migrateJobs(files: Map<string, string>): Promise<Record<OverlayName, [string, string]>> {
  const out = {} as Record<OverlayName, [string, string]>;
  const dir = await mkdtemp(join(tmpdir(), "nomnom-k8s-job-"));
  try {
    for (const [path, text] of files) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), text);
    }
    for (const overlay of Object.keys(OVERLAYS) as OverlayName[]) {
      if (hasKubectl) {
        const objects = parseObjects(
          execFileSync("kubectl", ["kustomize", join(dir, "overlays", overlay)], { encoding: "utf8" }),
        );
        const job = objects.find((o) => o.kind === "Job") as Any;
        out[overlay] = [job.metadata.name, JSON.stringify(job.spec.template)];
      } else {
        const job = parseObjects(files.get("base/migrate.yaml")!)[0] as Any;
        const inputs = [...files].filter(([p]) =>
          p.startsWith("base/entities/") || p === `overlays/${overlay}/settings.env`
        );
        out[overlay] = [job.metadata.name, JSON.stringify([job.spec.template, inputs])];
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return out;
}

Deno.test("the migrate Job gets a new name whenever its pod template changes: Kubernetes refuses to change a Job's template", async () => {
  const entities = await readEntityFiles(join(ROOT, "entities"));
  const render = (extra: Partial<RenderInputs>) =>
    renderKubernetes({ config, registry, entities, version: VERSION, ...extra });
  const before = await migrateJobs(rendered);
  assert.deepEqual(
    await migrateJobs(render({})),
    before,
    "the same inputs, the same Job: re-applying is a no-op",
  );
  const changes: Record<string, Partial<RenderInputs>> = {
    "a setting (--batch-size=1000)": { config: loadConfig(["--batch-size=1000"], {}) },
    "the image": { image: "registry.example/nomnom:0.1.0" },
    "an entity": {
      entities: entities.map((e, i) => i === 0 ? { ...e, text: `# edited\n${e.text}` } : e),
    },
    "--https": { https: true },
  };
  for (const [change, extra] of Object.entries(changes)) {
    const after = await migrateJobs(render(extra));
    for (const overlay of Object.keys(OVERLAYS) as OverlayName[]) {
      const [[oldName, oldTemplate], [newName, newTemplate]] = [before[overlay], after[overlay]];
      if (newTemplate === oldTemplate) continue; // nothing of the Job's pods changed: the same Job is right
      assert.notEqual(newName, oldName, `${overlay}: ${change} changes the Job's pod template, so its name`);
    }
  }
  const changed = await migrateJobs(render(changes["a setting (--batch-size=1000)"]));
  assert.notEqual(changed.prod[1], before.prod[1], "a setting reaches the Job's pods (its ConfigMap)");
});

Deno.test("each NATS server can reserve what the streams ask for, and nats-server accepts the configuration", async () => {
  await using certs = await createTestCertificates();
  for (const overlay of Object.keys(OVERLAYS) as OverlayName[]) {
    const objects = overlayObjects(overlay);
    const c = loadConfig([], settingsEnv(overlay));
    const { topology } = overlayContext({ config: c, registry }, overlay);
    const conf = rendered.get(`overlays/${overlay}/nats.conf`)!;
    const maxFileStore = Number(/^\s*max_file_store: (\d+)$/m.exec(conf)![1]);
    const { perServer, total, servers } = storageReservation(topology);
    const nats = find(objects, "StatefulSet", "nats");
    assert.ok(
      maxFileStore >= perServer * 1.25,
      `${overlay}: max_file_store ${maxFileStore} ≥ ${perServer} reserved per server + 25 % headroom`,
    );
    assert.ok(maxFileStore * nats.spec.replicas >= total, "the cluster holds every replica");
    assert.ok(nats.spec.replicas >= servers, `${overlay}: ${servers} replicas need as many NATS servers`);
    const volume = nats.spec.volumeClaimTemplates[0].spec.resources.requests.storage;
    assert.ok(
      Number(/^(\d+)Gi$/.exec(volume)![1]) * 1024 ** 3 >= maxFileStore,
      "the volume holds max_file_store",
    );
    assert.ok(Number(/^max_payload: (\d+)/m.exec(conf)![1]) >= c.limits.messageBytes + ENVELOPE_BYTES);
    const routes = /routes: \[(.*)\]/.exec(conf)?.[1].split(", ") ?? [];
    assert.equal(routes.length, nats.spec.replicas > 1 ? nats.spec.replicas : 0, "a route to every server");
    assert.deepEqual(
      c.natsUrl!.split(","),
      Array.from(
        { length: nats.spec.replicas },
        (_, i) => `nats://nats-${i}.${nats.spec.serviceName}:${NATS_PORTS.client}`,
      ),
      "NATS_URL lists every server",
    );
    // prod's TLS files come from a Secret: the check reads a copy pointing at throw-away ones instead.
    const confFile = join(certs.dir, `${overlay}-nats.conf`);
    await writeFile(
      confFile,
      conf.replace(
        /\/etc\/nats-tls\/(ca|tls)\.(crt|key)/g,
        (_, name, ext) => name === "ca" ? certs.ca : ext === "crt" ? certs.server.cert : certs.server.key,
      ),
    );
    execFileSync("nats-server", ["-t", "-c", confFile], {
      env: { ...Deno.env.toObject(), POD_NAME: "nats-0" },
      stdio: "pipe",
    });
  }
});

Deno.test("prod: NATS requires client certificates, and every NATS file a pod reads is a key of its mounted Secret", () => {
  const objects = overlayObjects("prod");
  const env = settingsEnv("prod");
  const mounted = (spec: Any, container: string, file: string) => {
    const c = spec.containers.find((c: Any) => c.name === container);
    const mount = c.volumeMounts.find((m: Any) => file.startsWith(m.mountPath + "/"));
    assert.ok(mount, `${file} is under a mount of ${container}`);
    const volume = spec.volumes.find((v: Any) => v.name === mount.name);
    assert.ok(
      volume.secret.items.some((i: Any) => i.path === file.slice(mount.mountPath.length + 1)),
      `${file} is a key of Secret ${volume.secret.secretName}`,
    );
    return volume.secret.secretName;
  };
  const files = ["NOMNOM_NATS_CA_FILE", "NOMNOM_NATS_CERT_FILE", "NOMNOM_NATS_KEY_FILE"].map((k) => env[k]);
  assert.ok(files.every(Boolean), "settings.env names the client CA, certificate and key");
  for (const name of ["nomnom-api", "nomnom-worker"]) {
    const spec = find(objects, "Deployment", name).spec.template.spec;
    for (const file of files) assert.equal(mounted(spec, "nomnom", file), "nomnom-nats-tls");
  }
  const conf = rendered.get("overlays/prod/nats.conf")!;
  assert.match(conf, /^tls \{[^}]*verify: true/m);
  const nats = find(objects, "StatefulSet", "nats").spec.template.spec;
  for (const [, file] of conf.matchAll(/^\s*(?:cert|key|ca)_file: (\S+)$/gm)) {
    assert.equal(mounted(nats, "nats", file), "nats-server-tls");
  }
  assert.doesNotMatch(rendered.get("overlays/dev/nats.conf")!, /tls/, "dev stays plain");
});

Deno.test("secrets are referenced, never inlined: the database URL is a mounted file; NATS and PostgreSQL stay private", () => {
  for (const overlay of Object.keys(OVERLAYS) as OverlayName[]) {
    const objects = overlayObjects(overlay);
    assert.ok(!("DATABASE_URL" in settingsEnv(overlay)));
    for (const name of ["nomnom-api", "nomnom-worker"]) {
      const spec = find(objects, "Deployment", name).spec.template.spec;
      const file = spec.containers[0].env.find((e: Any) => e.name === "DATABASE_URL_FILE").value;
      const mount = spec.containers[0].volumeMounts.find((m: Any) => file.startsWith(m.mountPath + "/"));
      const volume = spec.volumes.find((v: Any) => v.name === mount.name);
      assert.match(volume.secret.secretName, /^nomnom-database/, `${name} reads the URL from the Secret`);
    }
    const secrets = objects.filter((o) => o.kind === "Secret");
    if (overlay === "prod") {
      assert.deepEqual(secrets, [], "prod's Secret is the operator's, not in the manifests");
    }
    for (const s of secrets as Any[]) {
      const url = new URL(hasKubectl ? atob(s.data.url) : s.stringData.url);
      assert.equal(url.password, "", "the dev database URL carries no password");
    }
    const policy = find(objects, "NetworkPolicy", "nats").spec;
    const monitor = policy.ingress.find((r: Any) => r.ports.some((p: Any) => p.port === NATS_PORTS.monitor));
    assert.ok(
      monitor.from.some((f: Any) =>
        f.namespaceSelector?.matchLabels["kubernetes.io/metadata.name"] === "keda"
      ),
    );
    const client = policy.ingress.find((r: Any) => r.ports.some((p: Any) => p.port === NATS_PORTS.client));
    assert.deepEqual(client.from, [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "nomnom" } } }]);
    if (overlay === "dev") {
      const pg = find(objects, "NetworkPolicy", "postgres").spec;
      assert.deepEqual(pg.ingress[0].from, [{
        podSelector: { matchLabels: { "app.kubernetes.io/name": "nomnom" } },
      }]);
    }
  }
});

/** The file `env` (a settings.env variable) names, as a mount of Secret `secret` in container 0 of `spec`. */
function secretMountOf(spec: Any, file: string, secret: string, key: string): void {
  const mount = spec.containers[0].volumeMounts.find((m: Any) => file === `${m.mountPath}/${key}`);
  assert.ok(mount, `${file} is mounted`);
  const volume = spec.volumes.find((v: Any) => v.name === mount.name);
  assert.equal(volume.secret.secretName, secret);
  assert.ok(volume.secret.items.some((i: Any) => i.key === key && i.path === key), `${secret} key ${key}`);
}

Deno.test({
  name: hasKubectl
    ? "prod verifies PostgreSQL with the CA of a Secret, mounted in every pod where settings.env points"
    : "prod verifies PostgreSQL with the CA of a Secret (SKIPPED: the mounts are a kustomize patch, kubectl is not on PATH)",
  ignore: !hasKubectl,
  fn() {
    const file = settingsEnv("prod").NOMNOM_POSTGRES_CA_FILE;
    assert.ok(file, "prod's settings.env sets NOMNOM_POSTGRES_CA_FILE");
    const prod = overlayContext({ config, registry }, "prod").config;
    assert.equal(prod.postgresCaFile, file, "the pods load it (verify-full unless the URL says verify-ca)");
    assert.equal(
      settingsEnv("dev").NOMNOM_POSTGRES_CA_FILE,
      undefined,
      "dev's in-cluster PostgreSQL has no TLS",
    );
    const objects = overlayObjects("prod");
    for (const o of objects.filter((o) => o.kind === "Deployment" || o.kind === "Job")) {
      if (!o.metadata.name.startsWith("nomnom-")) continue;
      secretMountOf((o as Any).spec.template.spec, file, "nomnom-postgres-ca", "ca.crt");
    }
  },
});

Deno.test("rendered with --https, the API and worker probe over HTTPS and mount the certificate settings.env names", () => {
  const https = renderKubernetes({
    config,
    registry,
    entities: [],
    version: VERSION,
    https: true,
  });
  const plain = [
    ...parseObjects(rendered.get("base/api.yaml")!),
    ...parseObjects(rendered.get("base/worker.yaml")!),
  ];
  for (const o of plain.filter((o) => o.kind === "Deployment")) {
    const c = (o as Any).spec.template.spec.containers[0];
    assert.equal(
      c.livenessProbe.httpGet.scheme,
      undefined,
      "without --https the probes ask HTTP (the default)",
    );
  }
  for (const overlay of Object.keys(OVERLAYS) as OverlayName[]) {
    const text = https.get(`overlays/${overlay}/settings.env`)!;
    const env = Object.fromEntries(
      text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split("=", 2)),
    );
    const pod = loadConfig([], env);
    assert.ok(pod.tls.certFile && pod.tls.keyFile, `${overlay}: the pods load --tls-cert and --tls-key`);
    const objects = [
      ...parseObjects(https.get("base/api.yaml")!),
      ...parseObjects(https.get("base/worker.yaml")!),
    ];
    for (const o of objects.filter((o) => o.kind === "Deployment")) {
      const spec = (o as Any).spec.template.spec;
      for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
        assert.equal(spec.containers[0][probe].httpGet.scheme, "HTTPS", `${o.metadata.name} ${probe}`);
      }
      assert.equal(spec.containers[0].env.length, 1, "the certificate comes as files, never as env values");
      secretMountOf(spec, pod.tls.certFile!, "nomnom-tls", "tls.crt");
      secretMountOf(spec, pod.tls.keyFile!, "nomnom-tls", "tls.key");
      assert.equal((o as Any).spec.template.metadata.annotations["prometheus.io/scheme"], "https");
    }
    const job = parseObjects(https.get("base/migrate.yaml")!)[0] as Any;
    assert.ok(!job.spec.template.spec.volumes.some((v: Any) => v.name === "tls"), "migrate serves nothing");
  }
});
