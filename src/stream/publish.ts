/**
 * Publishing accepted messages to the ingest stream: awaits the JetStream ack (durable before 202), dedups by
 * message id (`Nats-Msg-Id`), and turns "NATS is away / the stream is full / no ack in time" into one error
 * kind the API answers with 503 + Retry-After. Never reports success for an unacked publish. A message too large
 * for NATS is the client's problem, not an outage: its own error kind, answered 413 naming the limit.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { InvalidArgumentError } from "@nats-io/transport-node";
import { createEnvelopeHeaders } from "./envelope.ts";
import { isJetStreamError, JS_CODES } from "./jetstream_codes.ts";
import { ENVELOPE_BYTES, type Topology } from "./topology.ts";

/** The message could not be stored now; the client should retry after `retryAfterSeconds`. */
export class PublishUnavailableError extends Error {
  override name = "PublishUnavailableError";
  constructor(message: string, readonly retryAfterSeconds: number, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The message is larger than NATS takes (max_payload of the server or max_msg_size of the stream). */
export class PublishTooLargeError extends Error {
  override name = "PublishTooLargeError";
  constructor(message: string, readonly maxBytes: number, options?: ErrorOptions) {
    super(message, options);
  }
}

export type PublishResult = { seq: number; duplicate: boolean };

/**
 * One message to enqueue. `dedupId` (default: the message id) is JetStream's `Nats-Msg-Id`; `bodySha256` goes
 * with a message sent under an Idempotency-Key.
 */
export type PublishRequest = {
  entity: string;
  body: Uint8Array;
  messageId: string;
  receivedAt: Date;
  dedupId?: string;
  bodySha256?: string;
};

/** What the API needs to enqueue a message (a small interface, so handlers are testable without NATS). */
export type Publisher = { publish(request: PublishRequest): Promise<PublishResult> };

/** A full stream, or a server out of room: the client should come back later. */
const STORE_FULL = [JS_CODES.storeFailed, JS_CODES.memoryExceeded, JS_CODES.storageExceeded];

/** Publisher settings: the ack timeout and the connection's max_payload (from the server's INFO). */
export type PublishOptions = { timeoutMs: number; maxPayload: number };

/** Create the JetStream publisher for `topology`. */
export function createPublisher(js: JetStreamClient, topology: Topology, options: PublishOptions): Publisher {
  const { timeoutMs, maxPayload } = options;
  const maxMsgSize = topology.ingest.max_msg_size ?? Infinity;
  return {
    async publish({ entity, body, messageId, receivedAt, dedupId, bodySha256 }) {
      try {
        const ack = await js.publish(topology.ingestSubject(entity, messageId), body, {
          msgID: dedupId ?? messageId,
          headers: createEnvelopeHeaders(receivedAt, bodySha256),
          timeout: timeoutMs,
          // Fail fast instead of buffering: the caller answers 503 and the client retries.
          retries: 0,
        });
        return { seq: ack.seq, duplicate: ack.duplicate };
      } catch (error) {
        // nats.js refuses a payload over max_payload before sending (InvalidArgumentError on "payload"); the
        // server refuses one over the stream's max_msg_size (JS_CODES.messageTooLarge).
        if (error instanceof InvalidArgumentError && body.length > maxPayload - ENVELOPE_BYTES) {
          throw new PublishTooLargeError(
            `message of ${body.length} bytes is larger than the NATS server takes (max_payload ${maxPayload} ` +
              `bytes, subject and headers included)`,
            maxPayload,
            { cause: error },
          );
        }
        if (isJetStreamError(error, JS_CODES.messageTooLarge)) {
          throw new PublishTooLargeError(
            `message of ${body.length} bytes is larger than the ingest stream takes (max_msg_size ` +
              `${maxMsgSize} bytes, headers included)`,
            maxMsgSize,
            { cause: error },
          );
        }
        if (isJetStreamError(error, ...STORE_FULL)) {
          throw new PublishUnavailableError("the ingest stream is full; retry later", 5, { cause: error });
        }
        throw new PublishUnavailableError(
          `the message could not be stored (${(error as Error).message}); retry later`,
          1,
          { cause: error },
        );
      }
    },
  };
}
