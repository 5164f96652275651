/**
 * The JetStream API error codes nomnom branches on, in one place: those nats.js exports (`JetStreamApiCodes`),
 * and the rest by their names in nats-server's `server/errors.json`.
 */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";

export const JS_CODES = {
  /** JSStreamNotFoundErr (10059). */
  streamNotFound: JetStreamApiCodes.StreamNotFound,
  /** JSConsumerNotFoundErr (10014). */
  consumerNotFound: JetStreamApiCodes.ConsumerNotFound,
  /** JSStreamNameExistErr: a stream of that name exists with another configuration. */
  streamNameInUse: 10058,
  /** JSStreamSubjectOverlapErr: another stream captures some of these subjects (or is being created with them). */
  subjectsOverlap: 10065,
  /** JSStorageResourcesExceededErr: the server cannot reserve the file storage a stream asks for. */
  storageExceeded: 10047,
  /** JSStreamReplicasNotSupportedErr: replicas > 1 on a server outside a cluster. */
  replicasNotSupported: 10074,
  /** JSClusterNoPeersErr: no set of servers can take the stream (too few of them, or no room on enough). */
  clusterNoPeers: 10005,
  /** JSClusterNotAvailErr: "JetStream system temporarily unavailable", while a cluster elects a leader. */
  temporarilyUnavailable: 10008,
  /** JSInsufficientResourcesErr. */
  insufficientResources: 10023,
  /** JSMemoryResourcesExceededErr. */
  memoryExceeded: 10028,
  /** JSStreamStoreFailedF: what a publish to a full `discard: new` stream gets ("maximum bytes exceeded"). */
  storeFailed: 10077,
  /** JSStreamMessageExceedsMaximumErr: larger than the stream's max_msg_size. */
  messageTooLarge: 10054,
} as const;

/** True when `error` is a JetStream API error with one of `codes`. */
export function isJetStreamError(error: unknown, ...codes: number[]): error is JetStreamApiError {
  return error instanceof JetStreamApiError && codes.includes(error.code);
}
