/**
 * `renderKubernetes()`: the whole deployment as files, from nomnom's settings, registry and entities — a
 * kustomize base plus the `dev` (one of everything, PostgreSQL in the cluster) and `prod` (three NATS servers,
 * R3 streams, external PostgreSQL from a Secret) overlays. Each overlay's settings.env is exactly what its pods
 * load, and everything the manifests compute (KEDA names, grace periods, NATS storage) is computed from the
 * config those pods will load from it. Pure: the caller reads the entities and writes the files.
 */
import type { INamespace } from "kubernetes-models/v1/Namespace";
import { Document, isMap, isScalar, isSeq, type Node } from "yaml";
import { type Config, describeSetting, loadConfig } from "../config.ts";
import { listSettings } from "../settings.ts";
import type { Registry } from "../registry/types.ts";
import { createTopology, type Topology } from "../stream/topology.ts";
import {
  NATS_ACCOUNT,
  natsConf,
  natsManifests,
  natsMonitoringEndpoint,
  natsTlsHosts,
  natsUrls,
} from "./nats.ts";
import { natsTlsConf, natsTlsPatches, natsTlsSettings } from "./nats_tls.ts";
import { natsNetworkPolicy, postgresNetworkPolicy } from "./network.ts";
import {
  API_TLS,
  apiManifests,
  ENTITIES_DIR,
  migrateManifests,
  type NomnomInputs,
  POSTGRES_CA,
  workerManifests,
} from "./nomnom.ts";
import { defaultImage, KUBE_NAMESPACE, type Manifest, NAMES } from "./objects.ts";
import { devDatabaseUrl, postgresManifests } from "./postgres.ts";

/** One entities file, as the ConfigMap carries it. */
export type EntityFile = { name: string; text: string };

export type RenderInputs = {
  /** The configuration `nomnom kubernetes` runs with: its settings become the overlays' settings.env. */
  config: Config;
  registry: Registry;
  entities: EntityFile[];
  version: string;
  /** The nomnom image (default: nomnom:<version>, as the Dockerfile builds it). */
  image?: string;
  /** The API and worker pods serve HTTPS with the Secret nomnom-tls (`nomnom kubernetes --https`). */
  https?: boolean;
};

/** The overlays and what makes them differ. */
export const OVERLAYS = {
  dev: { natsServers: 1, replicas: 1, apiReplicas: 1, maxWorkers: 1, natsTls: false },
  prod: { natsServers: 3, replicas: 3, natsTls: true },
} as const;
export type OverlayName = keyof typeof OVERLAYS;

/** Settings a pod never takes from settings.env: its role (an argument), secrets (files), embedded-mode paths. */
const NOT_IN_SETTINGS = new Set([
  "NOMNOM_ROLE",
  "DATABASE_URL",
  "NOMNOM_DATA_DIR",
  "NOMNOM_NATS_SERVER",
]);
/** Settings the manifests are computed from: written even at their default, so a new default cannot split them. */
const PINNED = [
  "NOMNOM_ENTITIES",
  "HOST",
  "PORT",
  "NOMNOM_OPS_PORT",
  "NOMNOM_NAMESPACE",
  "NOMNOM_SHUTDOWN_DRAIN_MS",
  "NOMNOM_SHUTDOWN_TIMEOUT_MS",
  "NOMNOM_MAX_MESSAGE_BYTES",
  "NOMNOM_BATCH_SIZE",
  "NOMNOM_MAX_ACK_PENDING",
  "NOMNOM_STREAM_MAX_BYTES",
  "NOMNOM_DLQ_MAX_BYTES",
  "NOMNOM_STREAM_REPLICAS",
  "LOG_FORMAT",
];

const HEADER =
  "Rendered by `nomnom kubernetes` from nomnom's settings, topology and entities; do not edit. " +
  "tests/kubernetes_test.ts fails when this file differs from what the command renders.";

/**
 * The settings.env of an overlay, env name → value in the order of nomnom's settings: every setting the
 * configuration sets away from its default, the pinned ones, and what the overlay decides (replicas, NATS_URL,
 * where the entities are mounted).
 */
export function overlaySettings(
  config: Config,
  overlay: OverlayName,
  options: { https?: boolean } = {},
): Record<string, string> {
  const forced: Record<string, string> = {
    NOMNOM_ENTITIES: ENTITIES_DIR,
    HOST: "0.0.0.0",
    LOG_FORMAT: "json",
    NOMNOM_STREAM_REPLICAS: String(OVERLAYS[overlay].replicas),
    NATS_URL: natsUrls(OVERLAYS[overlay].natsServers),
    ...(OVERLAYS[overlay].natsTls ? natsTlsSettings() : {}),
    // Your PostgreSQL is reached over the network: verify-full against the CA of the Secret (patched in below).
    ...(overlay === "prod" ? { NOMNOM_POSTGRES_CA_FILE: POSTGRES_CA.path("ca.crt") } : {}),
    ...(options.https
      ? { NOMNOM_TLS_CERT: API_TLS.path("tls.crt"), NOMNOM_TLS_KEY: API_TLS.path("tls.key") }
      : {}),
  };
  const out: Record<string, string> = {};
  for (const { path, setting } of listSettings()) {
    if (NOT_IN_SETTINGS.has(setting.env) || (setting.secret && !(setting.env in forced))) continue;
    const value = path.reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], config);
    const fallback = describeSetting(setting).default;
    if (setting.env in forced) out[setting.env] = forced[setting.env];
    else if (value !== undefined && (String(value) !== fallback || PINNED.includes(setting.env))) {
      out[setting.env] = String(value);
    }
  }
  return out;
}

/** Every file of deploy/kubernetes/, by path relative to it. */
export function renderKubernetes(inputs: RenderInputs): Map<string, string> {
  const files = new Map<string, string>();
  const entities = [...inputs.entities].sort((a, b) => a.name.localeCompare(b.name));
  const overlays = { dev: overlayContext(inputs, "dev"), prod: overlayContext(inputs, "prod") };
  // The base is rendered from prod's config; what only prod sets (the PostgreSQL CA) is patched in by prod.
  // The base is the same for both overlays: only replicas and NATS_URL differ, and nothing in it depends on them.
  const base: NomnomInputs = {
    config: overlays.prod.config,
    topology: overlays.prod.topology,
    image: inputs.image ?? defaultImage(inputs.version),
    // What reaches the migrate Job's pods from outside the base (its settings ConfigMap, entities, prod's patch).
    overlayInputs: JSON.stringify([
      inputs.version,
      entities,
      overlays.dev.env,
      overlays.prod.env,
      POSTGRES_CA.volume,
      POSTGRES_CA.mount,
    ]),
    nats: { monitoringEndpoint: natsMonitoringEndpoint(), account: NATS_ACCOUNT },
  };

  const namespaceObject: INamespace = {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: KUBE_NAMESPACE, labels: { "pod-security.kubernetes.io/enforce": "restricted" } },
  };
  const namespace: Manifest = {
    object: namespaceObject,
    comments: { "metadata.labels": "every pod here runs as non-root, read-only, without capabilities" },
  };
  const baseFiles: Record<string, Manifest[]> = {
    "namespace.yaml": [namespace],
    "api.yaml": apiManifests(base),
    "worker.yaml": workerManifests(base),
    "migrate.yaml": migrateManifests(base),
    "nats.yaml": natsManifests(overlays.prod.topology, OVERLAYS.prod.natsServers),
    "network-policies.yaml": [natsNetworkPolicy()],
  };
  for (const [name, manifests] of Object.entries(baseFiles)) files.set(`base/${name}`, toYaml(manifests));
  for (const e of entities) files.set(`base/entities/${e.name}`, e.text);
  files.set(
    "base/kustomization.yaml",
    toYaml([{
      object: kustomization({
        resources: Object.keys(baseFiles),
        configMapGenerator: [{ name: NAMES.entities, files: entities.map((e) => `entities/${e.name}`) }],
      }),
      comments: {
        configMapGenerator:
          `the entities folder, mounted at ${ENTITIES_DIR} (NOMNOM_ENTITIES); its hash in ` +
          "the name rolls the pods when an entity changes",
      },
    }]),
  );

  for (const overlay of ["dev", "prod"] as const) {
    const dir = `overlays/${overlay}`;
    const { env, config, topology } = overlays[overlay];
    files.set(`${dir}/settings.env`, envFile(env));
    const { natsServers, natsTls } = OVERLAYS[overlay];
    files.set(`${dir}/nats.conf`, natsConf(config, topology, natsServers, natsTls ? natsTlsConf() : []));
    const generators = [
      { name: NAMES.settings, envs: ["settings.env"] },
      { name: NAMES.natsConfig, files: ["nats.conf"] },
    ];
    if (overlay === "dev") {
      files.set(`${dir}/postgres.yaml`, toYaml([...postgresManifests(), postgresNetworkPolicy()]));
      files.set(
        `${dir}/kustomization.yaml`,
        toYaml([{
          object: kustomization({
            namespace: KUBE_NAMESPACE,
            resources: ["../../base", "postgres.yaml"],
            configMapGenerator: generators,
            secretGenerator: [{ name: NAMES.databaseSecret, literals: [`url=${devDatabaseUrl()}`] }],
            patches: devPatches(),
          }),
          comments: {
            secretGenerator:
              "the in-cluster PostgreSQL trusts nomnom's pods (NetworkPolicy): no password to keep",
            patches: "one of everything",
          },
        }]),
      );
    } else {
      const workloads = [...baseFiles["api.yaml"], ...baseFiles["worker.yaml"], ...baseFiles["migrate.yaml"]]
        .map((m) => m.object).filter((o) => o.kind === "Deployment" || o.kind === "Job");
      files.set(
        `${dir}/kustomization.yaml`,
        toYaml([{
          object: kustomization({
            namespace: KUBE_NAMESPACE,
            resources: ["../../base"],
            configMapGenerator: generators,
            patches: [...natsTlsPatches(), ...workloads.map((w) => mountPatch(w, POSTGRES_CA))],
          }),
          comments: {
            resources: `PostgreSQL is yours: create the Secrets ${NAMES.databaseSecret} (key url) and ` +
              `${NAMES.postgresCaSecret} (key ca.crt, the CA of its certificate) first:\n` +
              ` kubectl -n ${KUBE_NAMESPACE} create secret generic ${NAMES.databaseSecret} ` +
              "--from-literal=url='postgres://user:password@host:5432/db?sslmode=verify-full'\n" +
              ` kubectl -n ${KUBE_NAMESPACE} create secret generic ${NAMES.postgresCaSecret} ` +
              "--from-file=ca.crt=ca.pem",
            patches:
              `NATS requires mutual TLS: create the Secrets ${NAMES.natsServerTls} and ${NAMES.natsClientTls} ` +
              "first, each with keys ca.crt, tls.crt, tls.key\n" +
              ` (the servers' certificate must name ${natsTlsHosts()}; README "Security" shows how);\n` +
              `${NAMES.postgresCaSecret} is mounted where settings.env's NOMNOM_POSTGRES_CA_FILE points`,
          },
        }]),
      );
    }
  }
  return files;
}

/** A strategic-merge patch that mounts `files` into the nomnom container of workload `w`. */
function mountPatch(
  w: Manifest["object"],
  files: { volume: unknown; mount: unknown },
): { patch: string; target: { kind: string; name: string } } {
  const name = w.metadata!.name!;
  const podSpec = { containers: [{ name: "nomnom", volumeMounts: [files.mount] }], volumes: [files.volume] };
  return {
    target: { kind: w.kind, name },
    patch: JSON.stringify({
      apiVersion: w.apiVersion,
      kind: w.kind,
      metadata: { name },
      spec: { template: { spec: podSpec } },
    }),
  };
}

function kustomization(fields: Record<string, unknown>): Manifest["object"] & Record<string, unknown> {
  return { apiVersion: "kustomize.config.k8s.io/v1beta1", kind: "Kustomization", ...fields };
}

/** Strategic-merge patches (JSON merge for the ScaledObject, a custom resource) to one of everything. */
function devPatches(): { patch: string; target: { kind: string; name: string } }[] {
  const d = OVERLAYS.dev;
  const patch = (apiVersion: string, kind: string, name: string, spec: Record<string, unknown>) => ({
    target: { kind, name },
    patch: JSON.stringify({ apiVersion, kind, metadata: { name }, spec }),
  });
  return [
    patch("apps/v1", "StatefulSet", NAMES.nats, { replicas: d.natsServers }),
    patch("autoscaling/v2", "HorizontalPodAutoscaler", NAMES.api, {
      minReplicas: d.apiReplicas,
      maxReplicas: d.apiReplicas,
    }),
    patch("keda.sh/v1alpha1", "ScaledObject", NAMES.worker, {
      maxReplicaCount: d.maxWorkers,
      fallback: { failureThreshold: 3, replicas: d.maxWorkers },
    }),
  ];
}

function envFile(env: Record<string, string>): string {
  return `# ${HEADER}\n` + Object.entries(env).map(([k, v]) => `${k}=${v}`).join("\n") + "\n";
}

/** Manifests as one YAML stream, each with its comments above the fields they explain. */
export function toYaml(manifests: Manifest[]): string {
  return manifests.map((m, i) => {
    const doc = new Document(m.object, { aliasDuplicateObjects: false });
    if (i === 0) doc.commentBefore = ` ${HEADER}`;
    for (const [path, comment] of Object.entries(m.comments ?? {})) commentAt(doc, path, comment);
    return doc.toString({ lineWidth: 0 });
  }).join("---\n");
}

function commentAt(doc: Document, path: string, comment: string): void {
  const keys = path.split(".").map((k) => /^\d+$/.test(k) ? Number(k) : k);
  const last = keys.pop()!;
  const parent = keys.length ? doc.getIn(keys, true) : doc.contents;
  const text = comment.split("\n").map((l) => ` ${l}`).join("\n");
  let target: Node | undefined;
  if (isSeq(parent) && typeof last === "number") target = parent.items[last] as Node;
  if (isMap(parent)) {
    const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === last);
    target = pair?.key as Node | undefined;
  }
  if (!target) throw new Error(`No field "${path}" to comment on`);
  target.commentBefore = text;
}

/** What the tests and the command need besides the files: each overlay's config and topology. */
export function overlayContext(
  inputs: Pick<RenderInputs, "config" | "registry" | "https">,
  overlay: OverlayName,
): {
  env: Record<string, string>;
  config: Config;
  topology: Topology;
} {
  const env = overlaySettings(inputs.config, overlay, { https: inputs.https });
  // What the overlay's pods load from settings.env (the database URL, a file, changes none of it).
  const config = loadConfig([], env);
  return { env, config, topology: createTopology(config, inputs.registry) };
}
