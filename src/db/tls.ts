/**
 * TLS to PostgreSQL. One design: the mode is libpq's `sslmode` in the database URL (the same URL works with
 * psql), the CA is the file --postgres-ca-file names (where Kubernetes mounts a Secret; libpq's `sslrootcert`
 * in the URL is refused, so the CA has one place), and a CA file without `sslmode` means `verify-full`.
 * postgres.js 3.4 takes `ssl` as false, 'prefer', 'require' or tls.connect options (src/connection.js
 * `secure()`); its own reading of `sslmode=verify-full` checks against the system CAs only, and with an IP
 * address as host Deno's node:tls checks the certificate against "localhost" (postgres.js passes no host), so
 * the host check here is ours: the URL's host, on every runtime.
 */
import { readFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { ConfigError } from "../errors.ts";
import { SETTINGS } from "../settings.ts";

/** The sslmode values nomnom takes (libpq's, less `allow`, which postgres.js cannot do: plain first, then TLS). */
export const SSL_MODES = ["disable", "prefer", "require", "verify-ca", "verify-full"] as const;
export type SslMode = typeof SSL_MODES[number];

/** What the URL and the CA file ask for. */
export type PostgresTls = {
  mode: SslMode;
  /** How errors name the mode: `sslmode=verify-full`, or that it was implied by the CA file. */
  shownMode: string;
  caFile?: string;
  host: string;
  port: number;
};

const CA = SETTINGS.postgresCaFile;
const URL_SETTING = SETTINGS.databaseUrl;
const caName = `--${CA.flag} (${CA.env})`;
const urlName = `--${URL_SETTING.flag} (${URL_SETTING.env})`;

/** libpq's TLS parameters postgres.js would otherwise send to the server as settings (and fail on). */
const REFUSED_PARAMS = ["sslrootcert", "sslcert", "sslkey", "sslpassword", "sslcrl", "sslcrldir", "sslsni"];

/**
 * Pure: the TLS a database URL and --postgres-ca-file ask for. Throws a ConfigError naming the setting when
 * they contradict each other or the URL holds what nomnom does not read.
 */
export function resolvePostgresTls(url: string, caFile: string | undefined): PostgresTls {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1") || "localhost";
  const port = Number(u.port || 5432);
  for (const name of REFUSED_PARAMS) {
    if (!u.searchParams.has(name)) continue;
    throw new ConfigError(
      name === "sslrootcert"
        ? `${urlName} sets sslrootcert: nomnom reads the CA from ${caName} instead; set that to the CA file ` +
          "and remove sslrootcert from the URL."
        : `${urlName} sets ${name}: client certificates are not supported; remove it from the URL.`,
    );
  }
  const given = u.searchParams.get("sslmode");
  if (given !== null && !(SSL_MODES as readonly string[]).includes(given)) {
    throw new ConfigError(
      `${urlName} has sslmode=${given}: use one of ${SSL_MODES.join(", ")}` +
        (given === "allow" ? " (allow, plain first and TLS after, is not supported)." : "."),
    );
  }
  const mode = (given ?? (caFile ? "verify-full" : "disable")) as SslMode;
  if (caFile && !mode.startsWith("verify-")) {
    throw new ConfigError(
      `${caName} is set but ${urlName} has sslmode=${mode}, which never checks the server's certificate: ` +
        "use sslmode=verify-full (or verify-ca), or unset the CA file.",
    );
  }
  const shownMode = given === null && caFile ? `sslmode=${mode}, implied by ${caName}` : `sslmode=${mode}`;
  return { mode, shownMode, caFile, host, port };
}

/** postgres.js's `ssl` option for `t`; reads the CA file (a ConfigError naming the setting when it cannot). */
export function postgresSslOption(t: PostgresTls): false | "prefer" | tls.ConnectionOptions {
  if (t.mode === "disable") return false;
  if (t.mode === "prefer") return "prefer";
  if (t.mode === "require") return { rejectUnauthorized: false };
  const ca = t.caFile ? readCa(t.caFile) : undefined;
  return {
    ...(ca ? { ca } : {}),
    rejectUnauthorized: true,
    // verify-ca: the chain only. verify-full: the chain and the URL's host against the certificate's names.
    checkServerIdentity: t.mode === "verify-ca"
      ? () => undefined
      : (_name, cert) => tls.checkServerIdentity(t.host, cert),
  };
}

function readCa(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as { code?: string }).code ?? (error as Error).name;
    throw new ConfigError(`Cannot read ${caName}="${path}" (${code}): it must name a readable PEM file.`);
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new ConfigError(`${caName}="${path}" holds no PEM certificate ("-----BEGIN CERTIFICATE-----").`);
  }
  return text;
}

/** node:tls's codes for a chain that does not lead to a trusted CA. */
const UNKNOWN_CA = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
]);

/**
 * Why a TLS connection failed, in words that name the setting to change; undefined when it is not a TLS
 * failure. `acceptsTls` asks the server itself (its answer to an SSLRequest) when the error says too little.
 */
export async function explainTlsFailure(
  error: unknown,
  t: PostgresTls,
  acceptsTls: (host: string, port: number) => Promise<boolean | undefined> = serverAcceptsTls,
): Promise<string | undefined> {
  if (t.mode === "disable") return undefined;
  const code = (error as { code?: string }).code ?? "";
  const at = `${t.host}:${t.port}`;
  if (UNKNOWN_CA.has(code)) {
    const trusted = t.caFile ? `a CA in ${caName}="${t.caFile}"` : "a CA this system trusts";
    return `the certificate of ${at} is not signed by ${trusted} (${code}, ${t.shownMode}). Set ` +
      `${caName} to the PEM file of the CA that signed the server's certificate.`;
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    const names = (error as { cert?: { subjectaltname?: string } }).cert?.subjectaltname ?? "other names";
    return `the certificate of ${at} is for ${names}, not for "${t.host}" (${t.shownMode}). Connect to ` +
      `a host name the certificate lists in ${urlName}, or give the server a certificate for "${t.host}".`;
  }
  if (code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID") {
    return `the certificate of ${at} is not valid now (${code}): renew the server's certificate.`;
  }
  if (t.mode !== "prefer" && await acceptsTls(t.host, t.port) === false) {
    return `the server at ${at} does not support SSL (it refused the TLS request; ${t.shownMode}). Turn on ` +
      `ssl in its postgresql.conf, or, on a trusted network only, set sslmode=disable in ${urlName}` +
      (t.caFile ? ` and unset ${caName}.` : ".");
  }
  return undefined;
}

/**
 * Ask the server whether it takes TLS: PostgreSQL answers an SSLRequest with one byte, "S" or "N" (protocol
 * docs, "SSL Session Encryption"). undefined when it cannot be reached or answers something else.
 */
export function serverAcceptsTls(host: string, port: number): Promise<boolean | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (answer: boolean | undefined) => (socket.destroy(), resolve(answer));
    socket.setTimeout(5000, () => done(undefined));
    socket.once("error", () => done(undefined));
    socket.once("connect", () => {
      const request = Buffer.alloc(8);
      request.writeInt32BE(8, 0);
      request.writeInt32BE(80877103, 4);
      socket.write(request);
    });
    socket.once("data", (b) => done(b[0] === 0x53 ? true : b[0] === 0x4e ? false : undefined));
  });
}
