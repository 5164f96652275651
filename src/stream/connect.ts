/**
 * Opening the NATS connection every role shares. Reconnects forever once connected: a NATS restart must not
 * kill the process, only make it not ready until NATS is back.
 */
import {
  ClosedConnectionError,
  connect,
  ConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { type Logger, redact } from "../log.ts";

/** A NATS connection and whether it is up right now (false while reconnecting). */
export type Nats = { nc: NatsConnection; isConnected(): boolean };

/** Connect to NATS at `url` (comma-separated list allowed). Throws a message that says what to do. */
export async function connectNats(url: string, name: string, log: Logger): Promise<Nats> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: url.split(",").map((s) => s.trim()),
      name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      // nats.js otherwise builds an Error (a stack capture) for every request and publish ack, in case it
      // times out: 7 % of the API's CPU under load. Our errors say what failed without that stack.
      noAsyncTraces: true,
    });
  } catch (error) {
    throw new Error(
      `Cannot connect to NATS at ${redact(url)}: ${
        (error as Error).message
      }. Start a nats-server with JetStream ` +
        `(nats-server -js) or point --nats-url (NATS_URL) at one.`,
      { cause: error },
    );
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

/**
 * True for "NATS cannot answer right now" (disconnected, draining, closed, no JetStream responder, no answer in
 * time): an outage the caller reports as 503, not a failure of the request.
 */
export function isNatsUnavailable(error: unknown): boolean {
  return error instanceof TimeoutError || error instanceof ConnectionError ||
    error instanceof ClosedConnectionError || error instanceof DrainingConnectionError ||
    error instanceof NoRespondersError || error instanceof RequestError;
}
