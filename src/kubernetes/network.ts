/**
 * NetworkPolicies that keep NATS (and the dev PostgreSQL) private to nomnom: only nomnom's pods reach the NATS
 * client port, only NATS pods each other's route port, and only nomnom and the KEDA operator the monitoring
 * port KEDA reads the consumer's lag from. Kubelet probes come from the node and are not subject to them.
 */
import type { INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { type Manifest, nomnomLabels, serviceLabels } from "./objects.ts";
import { NATS_PORTS } from "./nats.ts";
import { POSTGRES_PORT } from "./postgres.ts";

/** Where KEDA's operator runs (its Helm chart's defaults); change both if KEDA is installed elsewhere. */
export const KEDA_OPERATOR = {
  namespace: "keda",
  labels: { "app.kubernetes.io/name": "keda-operator" },
} as const;

const nomnomPods = {
  podSelector: { matchLabels: { "app.kubernetes.io/name": nomnomLabels("api")["app.kubernetes.io/name"] } },
};

/** The NATS policy (every overlay). */
export function natsNetworkPolicy(): Manifest {
  const labels = serviceLabels("nats");
  const policy: INetworkPolicy = {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: "nats", labels },
    spec: {
      podSelector: { matchLabels: labels },
      policyTypes: ["Ingress"],
      ingress: [
        { from: [nomnomPods], ports: [{ port: NATS_PORTS.client }] },
        { from: [{ podSelector: { matchLabels: labels } }], ports: [{ port: NATS_PORTS.cluster }] },
        {
          from: [
            nomnomPods,
            {
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": KEDA_OPERATOR.namespace } },
              podSelector: { matchLabels: { ...KEDA_OPERATOR.labels } },
            },
          ],
          ports: [{ port: NATS_PORTS.monitor }],
        },
      ],
    },
  };
  return {
    object: policy,
    comments: {
      "spec.ingress.2":
        "monitoring (/jsz, /healthz): KEDA's nats-jetstream scaler reads the consumer's lag here",
    },
  };
}

/** The dev PostgreSQL's policy. */
export function postgresNetworkPolicy(): Manifest {
  const labels = serviceLabels("postgres");
  const policy: INetworkPolicy = {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: "postgres", labels },
    spec: {
      podSelector: { matchLabels: labels },
      policyTypes: ["Ingress"],
      ingress: [{ from: [nomnomPods], ports: [{ port: POSTGRES_PORT }] }],
    },
  };
  return { object: policy };
}
