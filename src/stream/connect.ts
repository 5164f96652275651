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
import { jetstream, type JetStreamClient, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { isJetStreamError, JS_CODES } from "./jetstream_codes.ts";

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

/**
 * A JetStream request that got no answer, saying which request and from where. Still a nats.js TimeoutError,
 * so callers that branch on "NATS did not answer" keep doing so; its bare message was only "timeout".
 */
export class JetStreamTimeoutError extends TimeoutError {
  constructor(message: string, cause: unknown) {
    super({ cause });
    this.name = "JetStreamTimeoutError";
    this.message = message;
  }
}

/** Longest a starting role waits for JetStream to answer: a fresh cluster elects its meta leader in seconds. */
export const JETSTREAM_WAIT_MS = 30_000;

/** True for the answers of a JetStream that is not ready yet: none in time, or "temporarily unavailable". */
export function isJetStreamElecting(error: unknown): boolean {
  return error instanceof TimeoutError || isJetStreamError(error, JS_CODES.temporarilyUnavailable);
}

/**
 * The JetStream clients of `nc`, once JetStream answers ($JS.API.INFO). A cluster answers JetStream API
 * requests only once it has elected its meta leader: until then a request gets no answer at all (or 10008),
 * so a role started together with a fresh cluster used to exit with nothing but "timeout". Waits at most
 * `waitMs`, then names what did not answer. A server without JetStream fails at once, as before.
 */
export async function connectJetStream(
  nc: NatsConnection,
  log: Logger,
  waitMs = JETSTREAM_WAIT_MS,
): Promise<{ js: JetStreamClient; jsm: JetStreamManager }> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const started = Date.now();
  for (let delay = 250, tries = 1;; delay = Math.min(delay * 2, 2_000), tries++) {
    try {
      await jsm.getAccountInfo();
      if (tries > 1) {
        log.info("JetStream answers", { server: nc.getServer(), waited_ms: Date.now() - started });
      }
      return { js: jetstream(nc), jsm };
    } catch (error) {
      if (!isJetStreamElecting(error)) throw error;
      if (Date.now() + delay - started > waitMs) {
        throw new JetStreamTimeoutError(
          `JetStream at ${nc.getServer()} did not answer its account info request ($JS.API.INFO) within ` +
            `${Math.round(waitMs / 1000)} s (${tries} tries, last: ${(error as Error).message}). A NATS ` +
            `cluster answers JetStream requests only once it has elected a meta leader, which needs a majority ` +
            `of its servers up and routed to each other: check that they run with the same cluster name and ` +
            `routes, and that JetStream is enabled on each.`,
          error,
        );
      }
      if (tries === 1) {
        log.warn("JetStream does not answer yet (a cluster electing its meta leader?); waiting", {
          server: nc.getServer(),
          wait_ms: waitMs,
          error,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
