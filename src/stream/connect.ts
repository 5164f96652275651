/**
 * Opening the NATS connection every role shares. Reconnects forever once connected: a NATS restart must not
 * kill the process, only make it not ready until NATS is back. TLS files and credentials come from
 * src/stream/nats_options.ts; a refused connection is explained by src/stream/nats_errors.ts.
 */
import {
  ClosedConnectionError,
  connect,
  ConnectionError,
  credsAuthenticator,
  DrainingConnectionError,
  nkeyAuthenticator,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from "@nats-io/transport-node";
import type { ConnectionOptions, NatsConnection } from "@nats-io/transport-node";
import { readFileSync } from "node:fs";
import { ConfigError } from "../errors.ts";
import { type Logger, redact } from "../log.ts";
import { SETTINGS } from "../settings.ts";
import { explainConnectError } from "./nats_errors.ts";
import { createNatsPlan, named, type NatsAuth, type NatsPlan, type NatsSecurity } from "./nats_options.ts";

/** A NATS connection and whether it is up right now (false while reconnecting). */
export type Nats = { nc: NatsConnection; isConnected(): boolean };

/**
 * Connect to NATS at `url` (comma-separated list allowed) with the TLS files and credentials of `security`.
 * Throws a ConfigError for settings that cannot work (an unreadable file, a refused certificate or password)
 * and an Error for a server that cannot be reached; both say what to do.
 */
export async function connectNats(
  url: string,
  security: NatsSecurity,
  name: string,
  log: Logger,
): Promise<Nats> {
  const plan = createNatsPlan(url, security);
  const options: ConnectionOptions = {
    servers: plan.servers,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    // nats.js otherwise builds an Error (a stack capture) for every request and publish ack, in case it
    // times out: 7 % of the API's CPU under load. Our errors say what failed without that stack.
    noAsyncTraces: true,
    ...tlsOptions(plan),
    ...authOptions(plan.auth),
  };
  let nc: NatsConnection;
  try {
    nc = await connect(options);
  } catch (error) {
    throw await explainConnectError(error, redact(url), plan);
  }
  let connected = true;
  (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect" || status.type === "reconnect") {
        connected = status.type === "reconnect";
        log.warn(`nats ${status.type}`, { server: status.server });
      }
    }
  })().catch(() => {});
  return { nc, isConnected: () => connected && !nc.isClosed() };
}

/** A file a setting names, read now so that a wrong path is a message naming the setting, not a stack. */
function readSettingFile(flag: keyof NatsSecurity, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as { code?: string }).code ?? (error as Error).name;
    throw new ConfigError(
      `Cannot read ${named(SETTINGS.nats[flag])}="${path}" (${code}): it must name a readable file.`,
    );
  }
}

/** nats.js reads the PEM files itself (on every reconnect); they are checked here first. */
function tlsOptions(plan: NatsPlan): Pick<ConnectionOptions, "tls"> {
  if (!plan.tls) return {};
  for (const [key, path] of Object.entries(plan.tls) as [keyof NatsSecurity, string][]) {
    if (!/-----BEGIN [A-Z ]+-----/.test(readSettingFile(key, path))) {
      throw new ConfigError(
        `${
          named(SETTINGS.nats[key])
        }="${path}" holds no PEM block (-----BEGIN …-----): it must be a PEM file.`,
      );
    }
  }
  return { tls: { ...plan.tls } };
}

/** A user nkey seed: S, U, then base32 (56 more characters). */
const USER_SEED = /\bSU[A-Z2-7]{56}\b/;
const CREDS = /-----BEGIN NATS USER JWT-----[\s\S]+-----BEGIN USER NKEY SEED-----/;

/**
 * The nkey seed and .creds file are read again on every (re)connect, so a rotated file takes effect without a
 * restart; a file that became unreadable or broken keeps the last good contents.
 */
function rereading(read: () => string): () => Uint8Array {
  let last = new TextEncoder().encode(read());
  return () => {
    try {
      last = new TextEncoder().encode(read());
    } catch { /* keep the last good contents: the server judges them */ }
    return last;
  };
}

function authOptions(auth: NatsAuth): Partial<ConnectionOptions> {
  switch (auth.kind) {
    case "none":
      return {};
    case "password":
      return { user: auth.user, pass: auth.pass };
    case "token":
      return { token: auth.token };
    case "nkey": {
      const seed = () => {
        const found = USER_SEED.exec(readSettingFile("nkeyFile", auth.file))?.[0];
        if (!found) {
          throw new ConfigError(
            `${auth.from}="${auth.file}" holds no user nkey seed (a line SU… of 58 characters, as ` +
              "`nk -gen user` writes): point it at the user's seed file.",
          );
        }
        return found;
      };
      return { authenticator: nkeyAuthenticator(rereading(seed)) };
    }
    case "creds": {
      const creds = () => {
        const text = readSettingFile("credsFile", auth.file);
        if (!CREDS.test(text)) {
          throw new ConfigError(
            `${auth.from}="${auth.file}" is not a NATS .creds file (a USER JWT block and a USER NKEY SEED ` +
              "block, as `nsc generate creds` writes).",
          );
        }
        return text;
      };
      return { authenticator: credsAuthenticator(rereading(creds)) };
    }
  }
}

/**
 * True for "NATS cannot answer right now" (disconnected, draining, closed, no JetStream responder, no answer in
 * time): an outage the caller reports as 503, not a failure of the request.
 */
export function isNatsUnavailable(error: unknown): boolean {
  return error instanceof TimeoutError || error instanceof ConnectionError ||
    error instanceof ClosedConnectionError || error instanceof DrainingConnectionError ||
    error instanceof NoRespondersError || error instanceof RequestError;
}
