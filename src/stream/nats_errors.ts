/**
 * Why NATS refused a connection, said as what to fix: a server certificate nomnom does not trust or that names
 * another host, a server without TLS, a client certificate missing or refused, credentials missing or wrong.
 * Node's TLS error codes and nats.js's error classes say most of it; for the rest (a server requiring a client
 * certificate drops the connection after the handshake, which nats.js sees as a timeout) the server's own INFO
 * line, read once more on a plain socket, says what it requires. Messages name the setting, never a secret.
 */
import { AuthorizationError, UserAuthenticationExpiredError } from "@nats-io/transport-node";
import { createConnection } from "node:net";
import { ConfigError } from "../errors.ts";
import { SETTINGS } from "../settings.ts";
import { firstHostPort, named, type NatsPlan } from "./nats_options.ts";

const S = SETTINGS.nats;

/** Node's codes for "the certificate chain does not lead to a CA this client trusts". */
const UNTRUSTED = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
]);
const EXPIRED = new Set(["CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID"]);
const WRONG_HOST = "ERR_TLS_CERT_ALTNAME_INVALID";
const UNREACHABLE = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/** What a nats-server announces in its INFO line (the fields that matter here). */
export type ServerInfo = { tls_required?: boolean; tls_available?: boolean; tls_verify?: boolean };

/** The first `code` along an error's cause chain (nats.js wraps some TLS errors in a ConnectionError). */
function codeOf(error: unknown): string | undefined {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/** Read the INFO line a nats-server sends first (null when it cannot be read within `timeoutMs`). */
export function probeServerInfo(host: string, port: number, timeoutMs = 2_000): Promise<ServerInfo | null> {
  return new Promise((resolve) => {
    let text = "";
    const socket = createConnection({ host, port });
    const done = (info: ServerInfo | null) => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on("error", () => {});
      socket.destroy();
      resolve(info);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.on("error", () => done(null));
    socket.on("close", () => done(null));
    socket.on("data", (chunk) => {
      text += String(chunk);
      const line = /^INFO\s+(\{.*\})\s*\n/.exec(text);
      if (line) {
        try {
          done(JSON.parse(line[1]) as ServerInfo);
        } catch {
          done(null);
        }
      } else if (text.length > 64 * 1024 || text.includes("\n")) done(null);
    });
  });
}

/** The error connectNats() throws for `error`: a ConfigError when a setting must change, else an Error. */
export async function explainConnectError(error: unknown, shownUrl: string, plan: NatsPlan): Promise<Error> {
  if (error instanceof ConfigError) return error;
  const at = `Cannot connect to NATS at ${shownUrl}`;
  const fail = (what: string) => new ConfigError(`${at}: ${what}`, { cause: error });
  const code = codeOf(error);
  const ca = named(S.caFile);
  const caGiven = plan.tls?.caFile ? ` (${ca}="${plan.tls.caFile}" is not the CA that signed it)` : "";
  if (code && UNTRUSTED.has(code)) {
    return fail(
      `the server's TLS certificate is not signed by a CA nomnom trusts (${code})${caGiven}. Set ${ca} to the ` +
        "PEM file of the CA that signed the nats-server's certificate (its tls { cert_file }).",
    );
  }
  if (code === WRONG_HOST) {
    return fail(
      `the server's TLS certificate is not valid for the host nomnom connected to (${
        (error as Error).message
      }). ` +
        `Connect by a name the certificate lists (its subjectAltName) in ${named(SETTINGS.natsUrl)}, or ` +
        "reissue the server's certificate with this host name or IP address.",
    );
  }
  if (code && EXPIRED.has(code)) {
    return fail(
      `the server's TLS certificate is not valid now (${code}): renew the nats-server's certificate.`,
    );
  }
  if (error instanceof AuthorizationError || error instanceof UserAuthenticationExpiredError) {
    const expired = error instanceof UserAuthenticationExpiredError ? " (the user JWT has expired)" : "";
    if (plan.auth.kind === "none") {
      return fail(
        "the server requires credentials (Authorization Violation) and none were given. Put them in " +
          `${named(SETTINGS.natsUrl)} (nats://user:password@host or nats://token@host), or set ` +
          `${named(S.user)} and ${named(S.password)}, ${named(S.token)}, ${named(S.nkeyFile)} or ` +
          `${named(S.credsFile)}.`,
      );
    }
    return fail(
      `the server refused the credentials of ${plan.auth.from}${expired} (Authorization Violation). Check ` +
        "them against the nats-server's authorization block (values not shown).",
    );
  }
  // Nothing listens (or the name does not resolve): no INFO line to read, and no reason to wait for one.
  const { host, port } = firstHostPort(plan);
  const info = code && UNREACHABLE.has(code) ? null : await probeServerInfo(host, port);
  if (info && plan.tls && !info.tls_required && !info.tls_available) {
    return fail(
      `the server does not offer TLS, but ${plan.tlsBecause} requires it. Enable TLS on the nats-server ` +
        `(tls { cert_file, key_file }), or use a nats:// URL without ${ca} and ${named(S.certFile)}.`,
    );
  }
  if (info?.tls_verify && !plan.tls?.certFile) {
    return fail(
      `the server requires a client certificate (tls { verify: true }) and none was given. Set ` +
        `${named(S.certFile)} and ${named(S.keyFile)} to a certificate signed by the CA of the server's ` +
        "tls { ca_file }, and its key.",
    );
  }
  if (info?.tls_verify) {
    return fail(
      `the server refused the client certificate ${named(S.certFile)}="${plan.tls!.certFile}". It must be ` +
        "signed by the CA of the nats-server's tls { ca_file }, be valid now and allow client authentication " +
        "(extendedKeyUsage clientAuth).",
    );
  }
  return new Error(
    `${at}: ${(error as Error).message}. Start a nats-server with JetStream (nats-server -js) or point ` +
      `${named(SETTINGS.natsUrl)} at one.`,
    { cause: error },
  );
}
