/**
 * The dev overlay's PostgreSQL: one pod with a volume, reachable only by nomnom (NetworkPolicy). It trusts
 * connections instead of holding a password, so nothing secret is written into the repository; production
 * points DATABASE_URL_FILE at its own database through the nomnom-database Secret.
 */
import type { IStatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import type { IService } from "kubernetes-models/v1/Service";
import { containerSecurity, type Manifest, NAMES, podSecurity, serviceLabels } from "./objects.ts";

export const POSTGRES_IMAGE = "postgres:16-bookworm";
export const POSTGRES_PORT = 5432;
const DATABASE = "nomnom";

/** The URL nomnom uses for the dev PostgreSQL (no password: see the module comment). */
export function devDatabaseUrl(): string {
  return `postgres://postgres@${NAMES.postgres}:${POSTGRES_PORT}/${DATABASE}`;
}

/** StatefulSet and Service of the dev PostgreSQL. */
export function postgresManifests(): Manifest[] {
  const labels = serviceLabels("postgres");
  const ready = ["pg_isready", "-U", "postgres", "-d", DATABASE];
  const statefulSet: IStatefulSet = {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name: NAMES.postgres, labels },
    spec: {
      replicas: 1,
      serviceName: NAMES.postgres,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          automountServiceAccountToken: false,
          // The image's postgres user.
          securityContext: podSecurity(999),
          containers: [{
            name: "postgres",
            image: POSTGRES_IMAGE,
            env: [
              { name: "POSTGRES_DB", value: DATABASE },
              { name: "POSTGRES_HOST_AUTH_METHOD", value: "trust" },
              { name: "PGDATA", value: "/var/lib/postgresql/data/pgdata" },
            ],
            ports: [{ name: "postgres", containerPort: POSTGRES_PORT }],
            resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "512Mi" } },
            securityContext: containerSecurity(),
            readinessProbe: { exec: { command: ready }, periodSeconds: 5, failureThreshold: 3 },
            livenessProbe: { exec: { command: ready }, periodSeconds: 10, failureThreshold: 6 },
            volumeMounts: [
              { name: "data", mountPath: "/var/lib/postgresql/data" },
              { name: "run", mountPath: "/var/run/postgresql" },
              { name: "tmp", mountPath: "/tmp" },
            ],
          }],
          volumes: [
            { name: "run", emptyDir: { sizeLimit: "1Mi" } },
            { name: "tmp", emptyDir: { sizeLimit: "64Mi" } },
          ],
        },
      },
      volumeClaimTemplates: [{
        metadata: { name: "data" },
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "2Gi" } } },
      }],
    },
  };
  const service: IService = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: NAMES.postgres, labels },
    spec: { selector: labels, ports: [{ name: "postgres", port: POSTGRES_PORT, targetPort: "postgres" }] },
  };
  return [
    {
      object: statefulSet,
      comments: {
        "spec.template.spec.containers.0.env.1": "dev only: no password to keep in the repository; the " +
          "NetworkPolicy lets only nomnom's pods reach this port",
      },
    },
    { object: service },
  ];
}
