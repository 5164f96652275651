/**
 * The building blocks every nomnom manifest shares: names and labels, the hardened security context, HTTP
 * probes, and mounting a Secret as files (`secretFiles`), typed with kubernetes-models so that a misspelt field
 * is a type error. Pure: nothing here reads the environment or the disk.
 */
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IPodSecurityContext } from "kubernetes-models/v1/PodSecurityContext";
import type { IProbe } from "kubernetes-models/v1/Probe";
import type { ISecurityContext } from "kubernetes-models/v1/SecurityContext";
import type { IVolume } from "kubernetes-models/v1/Volume";
import type { IVolumeMount } from "kubernetes-models/v1/VolumeMount";

/** A Kubernetes object as written to a manifest, with comments (why) on some of its fields. */
export type Manifest = {
  object: { apiVersion: string; kind: string; metadata?: { name?: string } };
  /** Dotted path (array indexes as numbers: `spec.triggers.0.metadata`) → comment written above that field. */
  comments?: Record<string, string>;
};

/** The Kubernetes namespace the overlays deploy to (KEDA reaches NATS pods by their DNS names in it). */
export const KUBE_NAMESPACE = "nomnom";

/** Names of the objects other objects refer to, defined once. */
export const NAMES = {
  api: "nomnom-api",
  worker: "nomnom-worker",
  migrate: "nomnom-migrate",
  settings: "nomnom-settings",
  entities: "nomnom-entities",
  databaseSecret: "nomnom-database",
  postgresCaSecret: "nomnom-postgres-ca",
  tlsSecret: "nomnom-tls",
  nats: "nats",
  natsHeadless: "nats-headless",
  natsConfig: "nats-config",
  /** prod: the NATS servers' certificate, key and client CA (src/kubernetes/nats_tls.ts). */
  natsServerTls: "nats-server-tls",
  /** prod: nomnom's NATS client certificate, key and the servers' CA. */
  natsClientTls: "nomnom-nats-tls",
  postgres: "postgres",
} as const;

/** Labels of a nomnom pod; `app.kubernetes.io/name: nomnom` is what the NetworkPolicies let in. */
export function nomnomLabels(component: "api" | "worker" | "migrate"): Record<string, string> {
  return {
    "app.kubernetes.io/name": "nomnom",
    "app.kubernetes.io/component": component,
    "app.kubernetes.io/part-of": "nomnom",
  };
}

/** Labels of a service nomnom runs beside it (NATS, the dev PostgreSQL). */
export function serviceLabels(name: "nats" | "postgres"): Record<string, string> {
  return { "app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "nomnom" };
}

/** The image nomnom's Dockerfile builds, tagged with the version (`nomnom kubernetes --image` names another). */
export function defaultImage(version: string): string {
  return `nomnom:${version}`;
}

/** Pod-level hardening: not root (distroless's nonroot user), the runtime's default seccomp profile. */
export function podSecurity(uid = 65532): IPodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    fsGroup: uid,
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** Container-level hardening: read-only root filesystem, no privilege escalation, no capabilities. */
export function containerSecurity(): ISecurityContext {
  return {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
  };
}

/** An HTTP GET probe on a named container port (`HTTPS`: the kubelet does not verify the certificate). */
export function httpProbe(
  path: string,
  port: string,
  timing: { period: number; failures: number; timeout?: number; initialDelay?: number },
  scheme: "HTTP" | "HTTPS" = "HTTP",
): IProbe {
  return {
    httpGet: { path, port, ...(scheme === "HTTPS" ? { scheme } : {}) },
    periodSeconds: timing.period,
    failureThreshold: timing.failures,
    timeoutSeconds: timing.timeout ?? 3,
    ...(timing.initialDelay ? { initialDelaySeconds: timing.initialDelay } : {}),
  };
}

/** A Secret's keys as read-only files in `dir`: the volume, its mount, and the path of each key. */
export type SecretFiles = { volume: IVolume; mount: IVolumeMount; path(key: string): string };

/**
 * Mount Secret `secret` as files under `dir` (one file per key, mode 0440), for settings read with `<ENV>_FILE`:
 * a value in a file is never in the pod spec, in `kubectl describe` or in the process environment. One call
 * gives the volume, the mount and the file paths, so adding a secret (API keys, TLS) is one line per pod.
 */
export function secretFiles(volumeName: string, secret: string, dir: string, keys: string[]): SecretFiles {
  return {
    volume: {
      name: volumeName,
      secret: { secretName: secret, defaultMode: 0o440, items: keys.map((key) => ({ key, path: key })) },
    },
    mount: { name: volumeName, mountPath: dir, readOnly: true },
    path: (key) => {
      if (!keys.includes(key)) throw new Error(`Secret "${secret}" is mounted without key "${key}"`);
      return `${dir}/${key}`;
    },
  };
}

/** Add volumes and their mounts to a pod's container: the one way manifests attach files. */
export function attach(
  container: IContainer,
  volumes: IVolume[],
  mounts: { volume: IVolume; mount: IVolumeMount }[],
): void {
  for (const { volume, mount } of mounts) {
    volumes.push(volume);
    (container.volumeMounts ??= []).push(mount);
  }
}

/** Whole seconds, rounded up (a grace period in seconds must not end before a deadline in milliseconds). */
export function secondsOf(ms: number): number {
  return Math.ceil(ms / 1000);
}
