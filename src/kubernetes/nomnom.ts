/**
 * nomnom's own workloads: the API (Deployment, Service, HPA, PodDisruptionBudget), the worker (Deployment and
 * the KEDA ScaledObject that scales it on the consumer's lag) and the migrate Job. Names, ports, grace periods
 * and the KEDA trigger come from the config and the topology the pods themselves will load, never typed twice.
 */
import { createHash } from "node:crypto";
import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { IHorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { IPodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IService } from "kubernetes-models/v1/Service";
import type { IVolume } from "kubernetes-models/v1/Volume";
import type { IScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { servesHttps } from "../api/server_tls.ts";
import type { Config } from "../config.ts";
import type { Topology } from "../stream/topology.ts";
import {
  attach,
  containerSecurity,
  httpProbe,
  type Manifest,
  NAMES,
  nomnomLabels,
  podSecurity,
  secondsOf,
  secretFiles,
} from "./objects.ts";

/** What nomnom's manifests are made from. */
export type NomnomInputs = {
  config: Config;
  topology: Topology;
  /** The nomnom image the pods run. */
  image: string;
  /**
   * What the overlays put into the pods besides these objects (the version, the entities, each overlay's
   * settings and patches), as one string: the migrate Job's name carries its hash with its own template's.
   */
  overlayInputs: string;
  /** How KEDA reads the consumer's lag: the NATS monitoring endpoint and account the NATS manifests serve. */
  nats: { monitoringEndpoint: string; account: string };
};

/** Where the entities ConfigMap is mounted: NOMNOM_ENTITIES points here. */
export const ENTITIES_DIR = "/entities";
/** Where the database Secret's `url` key appears as a file (DATABASE_URL_FILE). */
const DATABASE = secretFiles("database", NAMES.databaseSecret, "/var/run/secrets/nomnom/database", ["url"]);
/** The CA of the prod overlay's PostgreSQL (NOMNOM_POSTGRES_CA_FILE), mounted by a prod patch. */
export const POSTGRES_CA = secretFiles(
  "postgres-ca",
  NAMES.postgresCaSecret,
  "/var/run/secrets/nomnom/postgres-ca",
  ["ca.crt"],
);
/** The API's certificate and key (a kubernetes.io/tls Secret) when rendered with --https. */
export const API_TLS = secretFiles("tls", NAMES.tlsSecret, "/var/run/secrets/nomnom/tls", [
  "tls.crt",
  "tls.key",
]);

/** Time on top of drain + shutdown timeout before the kubelet's SIGKILL: the process's own exit and logs. */
const GRACE_MARGIN_MS = 10_000;

/**
 * The kubelet's grace period: the API keeps serving for the drain, then has the shutdown timeout to finish; the
 * worker has no listener to drain (main.ts skips the wait without one), only the timeout.
 */
export function gracePeriodSeconds(config: Config, role: "api" | "worker"): number {
  const drain = role === "api" ? config.shutdownDrainMs : 0;
  return secondsOf(drain + config.shutdownTimeoutMs + GRACE_MARGIN_MS);
}

function container(
  inputs: NomnomInputs,
  args: string[],
  ports: IContainer["ports"],
  volumes: IVolume[],
): IContainer {
  // The certificate only where a port serves it: the api and worker roles, not the migrate Job.
  const serves = ports !== undefined && servesHttps(inputs.config);
  const c: IContainer = {
    name: "nomnom",
    image: inputs.image,
    args,
    // Settings come from the overlay's nomnom-settings ConfigMap; the database URL only as a file.
    envFrom: [{ configMapRef: { name: NAMES.settings } }],
    env: [{ name: "DATABASE_URL_FILE", value: DATABASE.path("url") }],
    ports,
    // Read-only root and no writable volume: the split roles write no file (the binary, run as api and worker,
    // leaves its working dir, TMPDIR and HOME empty: tests/binary_test.ts); only --role=all's embedded services
    // use --data-dir.
    securityContext: containerSecurity(),
  };
  attach(c, volumes, [
    DATABASE,
    ...(serves ? [API_TLS] : []),
    {
      volume: { name: "entities", configMap: { name: NAMES.entities } },
      mount: { name: "entities", mountPath: ENTITIES_DIR, readOnly: true },
    },
  ]);
  return c;
}

/**
 * Probes on `port`: /health for start-up and liveness, /ready (NATS, PostgreSQL, topology) for readiness only;
 * over HTTPS when the pods serve it (--tls-cert), as the port then answers nothing else.
 */
function probes(
  config: Config,
  port: string,
): Pick<IContainer, "startupProbe" | "livenessProbe" | "readinessProbe"> {
  const scheme = servesHttps(config) ? "HTTPS" : "HTTP";
  return {
    // Start-up covers connecting and migrating: up to 2 minutes before liveness takes over.
    startupProbe: httpProbe("/health", port, { period: 2, failures: 60 }, scheme),
    // /health only: a NATS or PostgreSQL outage must take the pod out of rotation, not restart it.
    livenessProbe: httpProbe("/health", port, { period: 10, failures: 3 }, scheme),
    readinessProbe: httpProbe("/ready", port, { period: 5, failures: 2 }, scheme),
  };
}

const RESOURCES = {
  // The image tells Bun's GC it has 384 MiB (BUN_JSC_forceRAMSize): the limit leaves room above that.
  requests: { cpu: "250m", memory: "256Mi" },
  limits: { memory: "512Mi" },
};

function deployment(
  inputs: NomnomInputs,
  role: "api" | "worker",
  c: IContainer,
  volumes: IVolume[],
): IDeployment {
  const labels = nomnomLabels(role);
  const port = role === "api" ? inputs.config.http.port : inputs.config.opsPort;
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: role === "api" ? NAMES.api : NAMES.worker, labels },
    // No replicas: the HPA (api) or KEDA (worker) owns the count, and an apply must not reset it.
    spec: {
      selector: { matchLabels: labels },
      // A new pod is ready before an old one goes: no loss of capacity during a rollout.
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: {
          labels,
          annotations: {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": String(port),
            "prometheus.io/path": "/metrics",
            ...(servesHttps(inputs.config) ? { "prometheus.io/scheme": "https" } : {}),
          },
        },
        spec: {
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: gracePeriodSeconds(inputs.config, role),
          securityContext: podSecurity(),
          containers: [{ ...c, resources: RESOURCES }],
          volumes,
        },
      },
    },
  };
}

/** The API: Deployment, Service, HPA on CPU, PodDisruptionBudget. */
export function apiManifests(inputs: NomnomInputs): Manifest[] {
  const volumes: IVolume[] = [];
  const port = inputs.config.http.port;
  const c = {
    ...container(inputs, ["--role=api"], [{ name: "http", containerPort: port }], volumes),
    ...probes(inputs.config, "http"),
  };
  const labels = nomnomLabels("api");
  const service: IService = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: NAMES.api, labels },
    spec: { selector: labels, ports: [{ name: "http", port: 80, targetPort: "http" }] },
  };
  const hpa: IHorizontalPodAutoscaler = {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: { name: NAMES.api, labels },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: NAMES.api },
      minReplicas: 2,
      maxReplicas: 10,
      metrics: [{
        type: "Resource",
        resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } },
      }],
    },
  };
  const pdb: IPodDisruptionBudget = {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: { name: NAMES.api, labels },
    spec: { maxUnavailable: 1, selector: { matchLabels: labels } },
  };
  return [
    {
      object: deployment(inputs, "api", c, volumes),
      comments: {
        "spec.template.spec.terminationGracePeriodSeconds":
          `--shutdown-drain-ms (${inputs.config.shutdownDrainMs}) + ` +
          `--shutdown-timeout-ms (${inputs.config.shutdownTimeoutMs}) + ${GRACE_MARGIN_MS} ms margin`,
      },
    },
    { object: service },
    {
      object: hpa,
      comments: { "spec.minReplicas": "two, so that losing a node or a rollout never stops ingest" },
    },
    {
      object: pdb,
      comments: { "spec.maxUnavailable": "a drain takes one API pod at a time; the HPA keeps ≥ 2" },
    },
  ];
}

/** The worker: Deployment (probes and metrics on the ops port) and its KEDA ScaledObject. */
export function workerManifests(inputs: NomnomInputs): Manifest[] {
  const { config, topology } = inputs;
  const volumes: IVolume[] = [];
  const c = {
    ...container(inputs, ["--role=worker"], [{ name: "ops", containerPort: config.opsPort }], volumes),
    ...probes(config, "ops"),
  };
  // The consumer hands out at most max_ack_pending messages across all workers and each worker asks for two
  // batches: workers beyond that quotient would sit idle.
  const useful = Math.max(1, Math.floor(config.worker.maxAckPending / (config.worker.batchSize * 2)));
  const maxReplicas = Math.min(20, useful);
  const scaledObject: IScaledObject = {
    apiVersion: "keda.sh/v1alpha1",
    kind: "ScaledObject",
    metadata: { name: NAMES.worker, labels: nomnomLabels("worker") },
    spec: {
      scaleTargetRef: { name: NAMES.worker },
      pollingInterval: 15,
      minReplicaCount: 1,
      maxReplicaCount: maxReplicas,
      fallback: { failureThreshold: 3, replicas: Math.min(maxReplicas, 2) },
      advanced: {
        horizontalPodAutoscalerConfig: {
          behavior: { scaleDown: { stabilizationWindowSeconds: 300 } },
        },
      },
      triggers: [{
        type: "nats-jetstream",
        metadata: {
          natsServerMonitoringEndpoint: inputs.nats.monitoringEndpoint,
          account: inputs.nats.account,
          stream: topology.consumer.stream,
          consumer: topology.consumer.durable_name!,
          lagThreshold: String(config.worker.batchSize * 10),
          activationLagThreshold: "0",
          useHttps: "false",
        },
      }],
    },
  };
  return [
    {
      object: deployment(inputs, "worker", c, volumes),
      comments: {
        "spec.template.spec.terminationGracePeriodSeconds":
          `--shutdown-timeout-ms (${config.shutdownTimeoutMs}) ` +
          `+ ${GRACE_MARGIN_MS} ms margin: the worker commits and acks its batch, then drains NATS`,
      },
    },
    {
      object: scaledObject,
      comments: {
        "spec.minReplicaCount":
          "one worker always runs: the first message after a quiet spell waits for no poll " +
          "and no cold start (the API role creates the consumer, so KEDA never reads a missing one)",
        "spec.maxReplicaCount": `max_ack_pending ${config.worker.maxAckPending} / (2 batches × ` +
          `${config.worker.batchSize}) = ${useful} workers can hold messages at once; more would sit idle`,
        "spec.fallback": "NATS monitoring unreadable 3 polls in a row: keep 2 workers draining instead of " +
          "guessing from no data",
        "spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown": "5 minutes of lower lag before " +
          "removing workers: a burst that pauses briefly does not make workers stop and start",
        "spec.triggers.0.metadata.natsServerMonitoringEndpoint":
          "the headless Service: on a cluster KEDA asks " +
          "<server_name>.<this host> for the consumer leader's numbers, and server_name is the pod name",
        "spec.triggers.0.metadata.lagThreshold": `pending + ack-pending messages per worker: 10 batches of ` +
          `${config.worker.batchSize}, a few seconds of work for one worker`,
        "spec.triggers.0.metadata.activationLagThreshold": "only consulted to leave zero replicas, which " +
          "minReplicaCount 1 never reaches: any backlog counts",
        "spec.triggers.0.metadata.useHttps":
          "NATS monitoring (8222) is plain HTTP inside the cluster, kept " +
          "private by the NetworkPolicy",
      },
    },
  ];
}

/**
 * The migrate Job. Kubernetes refuses an apply that changes a Job's pod template, so its name carries a hash of
 * everything that template is made of (its own spec, the version, the entities, each overlay's settings and
 * patches): a rollout that changes any of them, a schema change among them, creates a new Job, and a rollout
 * without one re-applies the same, finished Job. It cannot race the pods: every migration (the Job's and each
 * role's own at start) takes PostgreSQL's advisory lock, and runs only additive changes.
 */
export function migrateManifests(inputs: NomnomInputs): Manifest[] {
  const volumes: IVolume[] = [];
  const c = container(inputs, ["migrate"], undefined, volumes);
  delete c.ports;
  const labels = nomnomLabels("migrate");
  const job: IJob = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: NAMES.migrate, labels },
    spec: {
      backoffLimit: 6,
      activeDeadlineSeconds: 600,
      ttlSecondsAfterFinished: 7 * 24 * 3600,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: "OnFailure",
          automountServiceAccountToken: false,
          securityContext: podSecurity(),
          containers: [{
            ...c,
            resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "256Mi" } },
          }],
          volumes,
        },
      },
    },
  };
  const hash = createHash("sha256").update(JSON.stringify([job.spec, inputs.overlayInputs])).digest("hex");
  job.metadata!.name = `${NAMES.migrate}-${hash.slice(0, 10)}`;
  return [{
    object: job,
    comments: {
      "metadata.name": "hash of its pod template, the version, the entities and the overlays' settings: a " +
        "Job's template cannot change, so a rollout that changes any of them creates a new Job",
      "spec.ttlSecondsAfterFinished": "kept a week for its log, then removed",
    },
  }];
}
