/**
 * What travels on the ingest stream: the message body exactly as the client sent it (bytes, never re-encoded),
 * on the subject `<ns>.ingest.<Entity>.<message id>` (see topology), with the time of acceptance in a header.
 * `Nats-Msg-Id` carries the dedup id: the message id, or one derived from the client's Idempotency-Key, or a
 * fresh one for a replay (so the dedup window cannot swallow it).
 */
import { headers as createHeaders } from "@nats-io/transport-node";
import type { MsgHdrs } from "@nats-io/transport-node";

export const RECEIVED_AT_HEADER = "Nomnom-Received-At";
/**
 * SHA-256 (hex) of the body of a message sent with an Idempotency-Key: a repeat of the key with another body is
 * refused by comparing with it (the worker keeps it in the status row once the message leaves the stream).
 */
export const BODY_SHA256_HEADER = "Nomnom-Body-Sha256";

/** Headers of a dead-letter entry. */
export const DLQ_HEADERS = {
  messageId: "Nomnom-Message-Id",
  entity: "Nomnom-Entity",
  error: "Nomnom-Error",
  attempts: "Nomnom-Attempts",
  firstSeen: "Nomnom-First-Seen",
  deadAt: "Nomnom-Dead-At",
  streamSeq: "Nomnom-Stream-Seq",
} as const;

/** Headers of an ingest message. */
export function createEnvelopeHeaders(receivedAt: Date, bodySha256?: string): MsgHdrs {
  const h = createHeaders();
  h.set(RECEIVED_AT_HEADER, receivedAt.toISOString());
  if (bodySha256) h.set(BODY_SHA256_HEADER, bodySha256);
  return h;
}

/** The body hash an idempotent message was published with (undefined without an Idempotency-Key). */
export function readBodySha256(h: MsgHdrs | undefined): string | undefined {
  return h?.get(BODY_SHA256_HEADER) || undefined;
}

/**
 * When the message was accepted: its header, or for a message nomnom did not publish, the time the stream stored
 * it (the same for every delivery of it). The status table is keyed (partitioned) by this time.
 */
export function acceptedAt(msg: { headers?: MsgHdrs; time: Date }): Date {
  return readReceivedAt(msg.headers) ?? msg.time;
}

/** When the message was accepted, read back from its headers (undefined for a message nomnom did not publish). */
export function readReceivedAt(h: MsgHdrs | undefined): Date | undefined {
  const at = h?.get(RECEIVED_AT_HEADER);
  const date = at ? new Date(at) : undefined;
  return date && !Number.isNaN(date.getTime()) ? date : undefined;
}
