/**
 * Moving a message to the dead-letter stream: copy it (original bytes, with why and when in headers), record
 * status `dlq`, then ack the original, which deletes it from the work-queue stream. The message is never acked
 * without both: if either step fails it is nak'ed with the retry delay and the move is tried again on its next
 * delivery. The DLQ keeps one entry per message subject, so a repeated move cannot make a second entry.
 */
import type { JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import { headers as createHeaders } from "@nats-io/transport-node";
import type { Sql } from "../db/connect.ts";
import { describeError } from "../db/sqlstate.ts";
import { upsertStatuses } from "../db/status.ts";
import type { Logger } from "../log.ts";
import { acceptedAt, DLQ_HEADERS, readBodySha256 } from "../stream/envelope.ts";
import { messageIdOf } from "../stream/message_id.ts";
import type { Topology } from "../stream/topology.ts";
import { retryDelay, type RetrySettings } from "./retry.ts";

/** What moving a message to the DLQ needs. */
export type DeadLetterDeps = {
  js: JetStreamClient;
  jsm: JetStreamManager;
  sql: Sql;
  topology: Topology;
  log: Logger;
  settings: Pick<RetrySettings, "retryBaseMs" | "retryMaxMs">;
};

/** Returns `deadLetter(msg, error)`: true once the message is in the DLQ and acked; false if it was nak'ed. */
export function createDeadLetterer(deps: DeadLetterDeps) {
  const { js, jsm, sql, topology, log, settings } = deps;
  return async (msg: JsMsg, error: Error): Promise<boolean> => {
    const parsed = topology.parseSubject(msg.subject);
    const entity = parsed.entity || "unknown";
    const messageId = messageIdOf(parsed.messageId, msg.seq);
    const receivedAt = acceptedAt(msg);
    const reason = describeError(error);
    const h = createHeaders();
    h.set(DLQ_HEADERS.messageId, messageId);
    h.set(DLQ_HEADERS.entity, entity);
    h.set(DLQ_HEADERS.error, reason.replace(/[\r\n]+/g, " ").slice(0, 2000));
    h.set(DLQ_HEADERS.attempts, String(msg.info.deliveryCount));
    h.set(DLQ_HEADERS.firstSeen, receivedAt.toISOString());
    h.set(DLQ_HEADERS.deadAt, new Date().toISOString());
    h.set(DLQ_HEADERS.streamSeq, String(msg.seq));
    const subject = topology.dlqSubject(entity, messageId);
    const retryLater = (what: string, failure: unknown) => {
      const delay = retryDelay(msg.info.deliveryCount, settings.retryBaseMs, settings.retryMaxMs);
      log.error(`could not dead-letter message (${what}); it stays in the ingest stream`, {
        message_id: messageId,
        error: failure,
        retry_in_ms: delay,
      });
      msg.nak(delay);
      return false;
    };
    // No dedup id: the DLQ stream keeps one message per subject (max_msgs_per_subject 1), so repeating this move
    // replaces the entry, and a dedup id could swallow the repeat after the entry was removed below.
    let entrySeq: number;
    try {
      entrySeq = (await js.publish(subject, msg.data, { headers: h })).seq;
    } catch (failure) {
      return retryLater("DLQ publish failed", failure);
    }
    try {
      await upsertStatuses(sql, [{
        messageId,
        entity,
        status: "dlq",
        seq: msg.seq,
        receivedAt,
        attempts: msg.info.deliveryCount,
        error: reason,
        bodySha256: readBodySha256(msg.headers),
      }]);
    } catch (failure) {
      // Without its status the entry would be invisible (the DLQ is listed from the status table), and if the
      // next delivery completes the message, it would be in both places: take it back out. Exactly this entry,
      // by its sequence: a purge by subject could remove the entry another delivery of the message just stored.
      await jsm.streams.deleteMessage(topology.dlq.name, entrySeq, false).catch(() => {});
      return retryLater("status write failed", failure);
    }
    msg.ack();
    log.warn("message dead-lettered", { message_id: messageId, entity, error: reason });
    return true;
  };
}
