/**
 * NATS as nomnom needs it: a StatefulSet of JetStream servers (one volume each, server_name = pod name, routes
 * to every pod), its headless and client Services, a PodDisruptionBudget, and the nats.conf each overlay
 * generates. max_file_store and the volume are sized from what the topology's streams reserve, and max_payload
 * from --max-message-bytes, so the server can hold what nomnom will ask of it.
 */
import type { IStatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import type { IPodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import type { IService } from "kubernetes-models/v1/Service";
import type { Config } from "../config.ts";
import { ENVELOPE_BYTES, storageReservation, type Topology } from "../stream/topology.ts";
import {
  containerSecurity,
  httpProbe,
  KUBE_NAMESPACE,
  type Manifest,
  NAMES,
  podSecurity,
  serviceLabels,
} from "./objects.ts";

/** The NATS image (the one compose.yaml runs). */
export const NATS_IMAGE = "nats:2.10-alpine";
/** No accounts are configured: every client is in the global account, the one KEDA must name. */
export const NATS_ACCOUNT = "$G";
export const NATS_PORTS = { client: 4222, cluster: 6222, monitor: 8222 } as const;
/** Where each pod keeps its JetStream store (its own PersistentVolumeClaim). */
const STORE_DIR = "/data";
const PID_DIR = "/var/run/nats";
/** Lame-duck mode on stop: clients are moved to the other servers over this long before the server exits. */
const LAME_DUCK = { duration: 30, grace: 10 };
const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/** Client URL of every pod, comma-separated: what NATS_URL lists, so a client can fail over to any of them. */
export function natsUrls(servers: number): string {
  return Array.from({ length: servers }, (_, i) => `nats://${podHost(i)}:${NATS_PORTS.client}`).join(",");
}

/** The host names a NATS server certificate must list (every pod's, as NATS_URL names them). */
export function natsTlsHosts(): string {
  return `*.${NAMES.natsHeadless}, *.${NAMES.natsHeadless}.${KUBE_NAMESPACE}.svc.cluster.local`;
}

function podHost(i: number): string {
  return `${NAMES.nats}-${i}.${NAMES.natsHeadless}`;
}

/** The monitoring endpoint KEDA polls: the headless Service's cluster DNS name (KEDA runs in its own namespace). */
export function natsMonitoringEndpoint(): string {
  return `${NAMES.natsHeadless}.${KUBE_NAMESPACE}.svc.cluster.local:${NATS_PORTS.monitor}`;
}

/**
 * What each server must be able to reserve: every stream's max_bytes once (each replica sits on a different
 * server, so no server holds two copies of one stream), plus a quarter for headroom (streams an operator adds,
 * rounding). The volume gets another quarter for JetStream's raft logs and indexes, in whole GiB.
 */
export function natsStorage(topology: Pick<Topology, "streams">): { maxFileStore: number; volumeGi: number } {
  const { perServer } = storageReservation(topology);
  const maxFileStore = Math.ceil((perServer * 1.25) / MIB) * MIB;
  return { maxFileStore, volumeGi: Math.ceil((maxFileStore * 1.25) / GIB) };
}

/** The largest message NATS must carry: the biggest body nomnom accepts plus its subject and headers. */
export function natsMaxPayload(config: Pick<Config, "limits">): number {
  return Math.max(MIB, config.limits.messageBytes + ENVELOPE_BYTES);
}

/**
 * nats.conf for `servers` servers (1: no cluster block; JetStream in a cluster of one would wait for peers), with
 * `tls`: the lines requiring client certificates (src/kubernetes/nats_tls.ts).
 */
export function natsConf(config: Config, topology: Topology, servers: number, tls: string[] = []): string {
  const { maxFileStore } = natsStorage(topology);
  const reservation = storageReservation(topology);
  const lines = [
    "# Rendered by `nomnom kubernetes` from nomnom's settings and topology; do not edit by hand.",
    "server_name: $POD_NAME # the pod's name: KEDA finds a consumer's leader by it",
    `port: ${NATS_PORTS.client}`,
    `http_port: ${NATS_PORTS.monitor}`,
    `pid_file: ${PID_DIR}/nats.pid`,
    `max_payload: ${
      natsMaxPayload(config)
    } # --max-message-bytes ${config.limits.messageBytes} + ${ENVELOPE_BYTES} for subject and headers`,
    `lame_duck_duration: ${LAME_DUCK.duration}s`,
    `lame_duck_grace_period: ${LAME_DUCK.grace}s`,
    "jetstream {",
    `  store_dir: ${STORE_DIR}`,
    `  # nomnom's streams reserve ${reservation.perServer} bytes on each server that holds a copy ` +
    `(${
      topology.streams.map((s) => `${s.name} ${s.max_bytes}`).join(", ")
    }; replicas ${reservation.servers}), ` +
    "+ 25 % headroom",
    `  max_file_store: ${maxFileStore}`,
    "}",
  ];
  if (servers > 1) {
    const routes = Array.from({ length: servers }, (_, i) => `nats://${podHost(i)}:${NATS_PORTS.cluster}`);
    lines.push(
      "cluster {",
      "  name: nomnom",
      `  port: ${NATS_PORTS.cluster}`,
      "  # Clients get every server from NATS_URL; advertising pod IPs would add nothing",
      "  no_advertise: true",
      `  routes: [${routes.join(", ")}]`,
      "}",
    );
  }
  lines.push(...tls);
  return lines.join("\n") + "\n";
}

/** The StatefulSet, its Services and PodDisruptionBudget, for `servers` servers. */
export function natsManifests(topology: Topology, servers: number): Manifest[] {
  const labels = serviceLabels("nats");
  const { volumeGi } = natsStorage(topology);
  const ports = [
    { name: "client", containerPort: NATS_PORTS.client },
    { name: "cluster", containerPort: NATS_PORTS.cluster },
    { name: "monitor", containerPort: NATS_PORTS.monitor },
  ];
  const statefulSet: IStatefulSet = {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name: NAMES.nats, labels },
    spec: {
      replicas: servers,
      serviceName: NAMES.natsHeadless,
      podManagementPolicy: "Parallel",
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: LAME_DUCK.duration + LAME_DUCK.grace + 20,
          securityContext: podSecurity(1000),
          affinity: {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [{
                weight: 100,
                podAffinityTerm: {
                  labelSelector: { matchLabels: labels },
                  topologyKey: "kubernetes.io/hostname",
                },
              }],
            },
          },
          containers: [{
            name: "nats",
            image: NATS_IMAGE,
            args: ["--config", "/etc/nats-config/nats.conf"],
            env: [
              { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
              { name: "GOMEMLIMIT", value: "900MiB" },
            ],
            ports,
            resources: { requests: { cpu: "250m", memory: "512Mi" }, limits: { memory: "1Gi" } },
            securityContext: containerSecurity(),
            // The probes of the NATS project's own Helm chart (nats-io/k8s, stateful-set/nats-container.yaml).
            startupProbe: httpProbe("/healthz", "monitor", {
              period: 10,
              failures: 90,
              timeout: 5,
              initialDelay: 10,
            }),
            readinessProbe: httpProbe("/healthz?js-server-only=true", "monitor", {
              period: 10,
              failures: 3,
              timeout: 5,
              initialDelay: 10,
            }),
            livenessProbe: httpProbe("/healthz?js-enabled-only=true", "monitor", {
              period: 30,
              failures: 3,
              timeout: 5,
              initialDelay: 10,
            }),
            lifecycle: {
              preStop: { exec: { command: ["nats-server", `--signal=ldm=${PID_DIR}/nats.pid`] } },
            },
            volumeMounts: [
              { name: "config", mountPath: "/etc/nats-config", readOnly: true },
              { name: "pid", mountPath: PID_DIR },
              { name: "data", mountPath: STORE_DIR },
            ],
          }],
          volumes: [
            { name: "config", configMap: { name: NAMES.natsConfig } },
            { name: "pid", emptyDir: { sizeLimit: "1Mi" } },
          ],
        },
      },
      volumeClaimTemplates: [{
        metadata: { name: "data" },
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: `${volumeGi}Gi` } } },
      }],
    },
  };
  const headless: IService = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: NAMES.natsHeadless, labels },
    spec: {
      clusterIP: "None",
      // Routes must form before any server is ready (a JetStream server is not ready without its peers).
      publishNotReadyAddresses: true,
      selector: labels,
      ports: ports.map(({ name, containerPort }) => ({ name, port: containerPort, targetPort: name })),
    },
  };
  const client: IService = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: NAMES.nats, labels },
    spec: { selector: labels, ports: [{ name: "client", port: NATS_PORTS.client, targetPort: "client" }] },
  };
  const pdb: IPodDisruptionBudget = {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: { name: NAMES.nats, labels },
    spec: { maxUnavailable: 1, selector: { matchLabels: labels } },
  };
  return [
    {
      object: statefulSet,
      comments: {
        "spec.podManagementPolicy":
          "all servers start together: JetStream needs a quorum before any is ready",
        "spec.template.spec.terminationGracePeriodSeconds": `lame duck ${LAME_DUCK.duration} s + grace ` +
          `${LAME_DUCK.grace} s + margin`,
        "spec.volumeClaimTemplates.0.spec.resources.requests.storage":
          "max_file_store (nats.conf) + 25 % for " +
          "raft logs and indexes",
      },
    },
    { object: headless },
    { object: client },
    {
      object: pdb,
      comments: { "spec.maxUnavailable": "R3 streams keep a quorum (2 of 3) with one server away" },
    },
  ];
}
