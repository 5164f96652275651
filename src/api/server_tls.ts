/**
 * HTTPS of the API and the worker's ops port: whether it is on (--tls-cert set; the banner, `nomnom healthcheck`
 * and the Kubernetes probes ask `servesHttps()`), and the certificate and key, read and checked once at start.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Config } from "../config.ts";
import { ConfigError } from "../errors.ts";
import { SETTINGS } from "../settings.ts";
import type { ServerTls } from "./serve.ts";

/** Whether the API and the ops port serve HTTPS: the one place that decides it (banner, healthcheck, probes). */
export function servesHttps(config: Pick<Config, "tls">): boolean {
  return config.tls.certFile !== undefined;
}

/** `https` or `http`, for URLs of this process's listeners. */
export function urlScheme(config: Pick<Config, "tls">): "https" | "http" {
  return servesHttps(config) ? "https" : "http";
}

const names = (s: { flag: string; env: string }) => `--${s.flag} (${s.env})`;

/**
 * Read --tls-cert and --tls-key (undefined when neither is set). ConfigError naming the setting when one is
 * missing, a file cannot be read, holds no PEM, or the key is not the certificate's; never shows the key.
 */
export function loadServerTls(files: Config["tls"]): ServerTls | undefined {
  const { certFile, keyFile } = files;
  const [certSetting, keySetting] = [SETTINGS.tls.certFile, SETTINGS.tls.keyFile];
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    const [missing, given] = certFile === undefined ? [certSetting, keySetting] : [keySetting, certSetting];
    throw new ConfigError(`${names(given)} is set without ${names(missing)}: HTTPS needs both files.`);
  }
  const read = (setting: { flag: string; env: string }, path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch (error) {
      const code = (error as { code?: string }).code ?? (error as Error).name;
      throw new ConfigError(
        `Cannot read ${names(setting)}="${path}" (${code}): it must name a readable PEM file.`,
      );
    }
  };
  const cert = read(certSetting, certFile);
  const key = read(keySetting, keyFile);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch {
    throw new ConfigError(`${names(certSetting)}="${certFile}" holds no PEM certificate.`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new ConfigError(`${names(keySetting)}="${keyFile}" holds no PEM private key (contents not shown).`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new ConfigError(
      `${names(keySetting)}="${keyFile}" is not the private key of ${names(certSetting)}="${certFile}" ` +
        `(${leaf.subject.replaceAll("\n", ", ")}): give the key the certificate was issued for.`,
    );
  }
  return { cert, key };
}
