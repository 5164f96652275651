/**
 * What travels on the ingest stream: the message body exactly as the client sent it (bytes, never re-encoded)
 * and a few headers. The entity is the subject's last token (see topology), the message id is JetStream's
 * `Nats-Msg-Id` (dedup), and the time of acceptance rides along for status and latency.
 */
import { headers as createHeaders } from "@nats-io/transport-node";
import type { MsgHdrs } from "@nats-io/transport-node";

export const MSG_ID_HEADER = "Nats-Msg-Id";
export const RECEIVED_AT_HEADER = "Nomnom-Received-At";

/** Headers of an ingest message. */
export function createEnvelopeHeaders(receivedAt: Date): MsgHdrs {
  const h = createHeaders();
  h.set(RECEIVED_AT_HEADER, receivedAt.toISOString());
  return h;
}

/** Read the message id and acceptance time back from a stored message's headers. */
export function readEnvelopeHeaders(h: MsgHdrs | undefined): { messageId?: string; receivedAt?: Date } {
  const id = h?.get(MSG_ID_HEADER);
  const at = h?.get(RECEIVED_AT_HEADER);
  return { messageId: id || undefined, receivedAt: at ? new Date(at) : undefined };
}
