/**
 * Moving a message to the dead-letter stream: copy it (original bytes, with why and when in headers), record
 * status `dlq`, then ack the original, which deletes it from the work-queue stream. The copy is published under a
 * dedup id, so a crash between the steps can repeat them without making a second DLQ entry.
 */
import type { JsMsg } from "@nats-io/jetstream";
import { headers as createHeaders } from "@nats-io/transport-node";
import { upsertStatuses } from "../db/status.ts";
import { readReceivedAt } from "../stream/envelope.ts";
import type { WorkerDeps } from "./worker.ts";

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

/** Describe an error for people: the database's SQLSTATE and detail when there is one. */
export function describeError(error: Error): string {
  const pg = error as Error & { code?: string; detail?: string };
  const code = typeof pg.code === "string" && /^[0-9A-Z]{5}$/.test(pg.code) ? `[${pg.code}] ` : "";
  return `${code}${error.message}${pg.detail ? ` (${pg.detail})` : ""}`;
}

/** Returns `deadLetter(msg, error)`: true once the message is in the DLQ and acked; false if it was nak'ed. */
export function createDeadLetterer(deps: Pick<WorkerDeps, "js" | "sql" | "topology" | "log" | "settings">) {
  const { js, sql, topology, log, settings } = deps;
  return async (msg: JsMsg, error: Error): Promise<boolean> => {
    const parsed = topology.parseSubject(msg.subject);
    const entity = parsed.entity || "unknown";
    const messageId = parsed.messageId || `seq-${msg.seq}`;
    const receivedAt = readReceivedAt(msg.headers);
    const reason = describeError(error);
    const h = createHeaders();
    h.set(DLQ_HEADERS.messageId, messageId);
    h.set(DLQ_HEADERS.entity, entity);
    h.set(DLQ_HEADERS.error, reason.replace(/[\r\n]+/g, " ").slice(0, 2000));
    h.set(DLQ_HEADERS.attempts, String(msg.info.deliveryCount));
    h.set(DLQ_HEADERS.firstSeen, (receivedAt ?? new Date(msg.info.timestampNanos / 1e6)).toISOString());
    h.set(DLQ_HEADERS.deadAt, new Date().toISOString());
    h.set(DLQ_HEADERS.streamSeq, String(msg.seq));
    try {
      // Dedup id per ingest-stream message: a repeat of this move is dropped, a later replay that fails again is not.
      await js.publish(topology.dlqSubject(entity, messageId), msg.data, {
        msgID: `${messageId}:${msg.seq}`,
        headers: h,
      });
      await upsertStatuses(sql, [{
        messageId,
        entity,
        status: "dlq",
        seq: msg.seq,
        receivedAt,
        attempts: msg.info.deliveryCount,
        error: reason,
      }]);
      msg.ack();
      log.warn("message dead-lettered", { message_id: messageId, entity, error: reason });
      return true;
    } catch (failure) {
      log.error("could not dead-letter message; it will be redelivered", {
        message_id: messageId,
        error: failure,
      });
      msg.nak(settings.retryBaseMs);
      return false;
    }
  };
}
