/**
 * Publishing accepted messages to the ingest stream: awaits the JetStream ack (durable before 202), dedups by
 * message id (`Nats-Msg-Id`), and turns "NATS is away / the stream is full / no ack in time" into one error
 * kind the API answers with 503 + Retry-After. Never reports success for an unacked publish.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { JetStreamApiError } from "@nats-io/jetstream";
import { createEnvelopeHeaders } from "./envelope.ts";
import type { Topology } from "./topology.ts";

/** The message could not be stored now; the client should retry after `retryAfterSeconds`. */
export class PublishUnavailableError extends Error {
  override name = "PublishUnavailableError";
  constructor(message: string, readonly retryAfterSeconds: number, options?: ErrorOptions) {
    super(message, options);
  }
}

export type PublishResult = { seq: number; duplicate: boolean };

/** One message to enqueue. `dedupId` (default: the message id) is JetStream's `Nats-Msg-Id`. */
export type PublishRequest = {
  entity: string;
  body: Uint8Array;
  messageId: string;
  receivedAt: Date;
  dedupId?: string;
};

/** What the API needs to enqueue a message (a small interface, so handlers are testable without NATS). */
export type Publisher = { publish(request: PublishRequest): Promise<PublishResult> };

const STORE_FULL = new Set([10077, 10028, 10047]); // maximum bytes/messages exceeded, insufficient resources

/** Create the JetStream publisher for `topology`. */
export function createPublisher(js: JetStreamClient, topology: Topology, timeoutMs: number): Publisher {
  return {
    async publish({ entity, body, messageId, receivedAt, dedupId }) {
      try {
        const ack = await js.publish(topology.ingestSubject(entity, messageId), body, {
          msgID: dedupId ?? messageId,
          headers: createEnvelopeHeaders(receivedAt),
          timeout: timeoutMs,
          // Fail fast instead of buffering: the caller answers 503 and the client retries.
          retries: 0,
        });
        return { seq: ack.seq, duplicate: ack.duplicate };
      } catch (error) {
        if (error instanceof JetStreamApiError && STORE_FULL.has(error.code)) {
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
