/**
 * The HTTP(S) listener: the one runtime-specific edge of the API. Deno.serve on Deno, Bun.serve on Bun (both take
 * a fetch handler, which is what Hono exposes, and a PEM certificate and key for HTTPS). The client's socket
 * address is handed to the handler as `env.remoteAddress` (Hono's `c.env`) on both runtimes, so the app itself
 * never asks which runtime it is on.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Config } from "../config.ts";
import { ConfigError } from "../errors.ts";
import { SETTINGS } from "../settings.ts";

/** What the listener hands the app with each request (Hono's `c.env`). */
export type ConnEnv = { remoteAddress?: string };

type FetchHandler = (request: Request, env: ConnEnv) => Response | Promise<Response>;

/** A listening server: the port it got, and how to stop it (in-flight requests finish first). */
export type HttpServer = { port: number; close(): Promise<void> };

type BunServer = {
  port: number;
  stop(force?: boolean): Promise<void>;
  requestIP(request: Request): { address: string } | null;
};

/** A certificate (chain) and its private key, PEM. */
export type ServerTls = { cert: string; key: string };

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

/** Listen on host:port (port 0 picks a free one), over HTTPS with `tls`. */
export function serveHttp(
  fetch: FetchHandler,
  host: string,
  port: number,
  tls?: ServerTls,
): Promise<HttpServer> {
  const bun = (globalThis as { Bun?: { serve(options: unknown): BunServer } }).Bun;
  if (bun) {
    const server = bun.serve({
      hostname: host,
      port,
      ...(tls ? { tls } : {}),
      fetch: (request: Request, self: BunServer) =>
        fetch(request, { remoteAddress: self.requestIP(request)?.address }),
    });
    return Promise.resolve({ port: server.port, close: () => server.stop(false) });
  }
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: host,
      port,
      ...(tls ?? {}),
      onListen: (addr) => resolve({ port: (addr as Deno.NetAddr).port, close: () => server.shutdown() }),
    }, (request, info) => fetch(request, { remoteAddress: (info.remoteAddr as Deno.NetAddr).hostname }));
  });
}
