/**
 * Message ids, part of the wire format: the last token of every ingest and dead-letter subject. The API issues
 * UUIDs; a message another publisher put on the ingest stream without one is named after its stream sequence.
 */

/**
 * The one spelling of a message id: a UUID, or `seq-<n>`. Nothing else: an id becomes a NATS subject token,
 * where `*`, `>` or a `.` would match or name other messages. The API contract (and so OpenAPI) uses it too.
 */
export const MESSAGE_ID =
  /^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|seq-[1-9][0-9]{0,19})$/;

/** True for a string that can be a message id (see MESSAGE_ID). */
export function isMessageId(id: string): boolean {
  return MESSAGE_ID.test(id);
}

/** The `seq-<n>` id of a message that came without one. */
export function sequenceMessageId(seq: number): string {
  return `seq-${seq}`;
}

/** The id of the message at stream sequence `seq` whose subject carries `subjectId` (empty: it came without one). */
export function messageIdOf(subjectId: string, seq: number): string {
  return subjectId || sequenceMessageId(seq);
}
