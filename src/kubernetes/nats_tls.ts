/**
 * The prod overlay's NATS security: the NATS servers require mutual TLS (tls { verify: true }), so only a pod
 * holding a client certificate of the operator's CA connects, and nomnom's pods present one. Both sides read
 * their files from Secrets (keys ca.crt, tls.crt, tls.key: what a cert-manager Certificate writes), mounted as
 * files with secretFiles(); the nomnom side's paths are ordinary settings (NOMNOM_NATS_*_FILE in settings.env),
 * so the pods' config says where they are and kubernetes_test checks each one is mounted.
 */
import { SETTINGS } from "../settings.ts";
import { NAMES, secretFiles } from "./objects.ts";

const KEYS = ["ca.crt", "tls.crt", "tls.key"];

/** The NATS servers' certificate, key and the CA their clients' certificates must be signed by. */
export const NATS_SERVER_TLS = secretFiles("nats-tls", NAMES.natsServerTls, "/etc/nats-tls", KEYS);
/** nomnom's client certificate and key, and the CA that signed the servers' certificates. */
export const NOMNOM_NATS_TLS = secretFiles(
  "nats-tls",
  NAMES.natsClientTls,
  "/var/run/secrets/nomnom/nats",
  KEYS,
);

/** The nats.conf lines of a server requiring client certificates. */
export function natsTlsConf(): string[] {
  return [
    `# Mutual TLS: clients need a certificate of this CA (Secret ${NAMES.natsServerTls}; nomnom's is ` +
    `${NAMES.natsClientTls})`,
    "tls {",
    `  cert_file: ${NATS_SERVER_TLS.path("tls.crt")}`,
    `  key_file: ${NATS_SERVER_TLS.path("tls.key")}`,
    `  ca_file: ${NATS_SERVER_TLS.path("ca.crt")}`,
    "  verify: true",
    "}",
  ];
}

/** The settings that point nomnom at its mounted client files (settings.env of the overlay). */
export function natsTlsSettings(): Record<string, string> {
  const s = SETTINGS.nats;
  return {
    [s.caFile.env]: NOMNOM_NATS_TLS.path("ca.crt"),
    [s.certFile.env]: NOMNOM_NATS_TLS.path("tls.crt"),
    [s.keyFile.env]: NOMNOM_NATS_TLS.path("tls.key"),
  };
}

/** Strategic-merge patches mounting the Secrets: into the NATS servers and into the API and worker pods. */
export function natsTlsPatches(): { patch: string; target: { kind: string; name: string } }[] {
  const mount = (kind: string, name: string, container: string, files: typeof NATS_SERVER_TLS) => ({
    target: { kind, name },
    patch: JSON.stringify({
      apiVersion: "apps/v1",
      kind,
      metadata: { name },
      spec: {
        template: {
          spec: { containers: [{ name: container, volumeMounts: [files.mount] }], volumes: [files.volume] },
        },
      },
    }),
  });
  return [
    mount("StatefulSet", NAMES.nats, "nats", NATS_SERVER_TLS),
    mount("Deployment", NAMES.api, "nomnom", NOMNOM_NATS_TLS),
    mount("Deployment", NAMES.worker, "nomnom", NOMNOM_NATS_TLS),
  ];
}
