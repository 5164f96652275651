/**
 * Acked messages a work-queue stream kept: remove them, and only them.
 *
 * With work-queue retention JetStream deletes a message when the consumer acks it. nats-server 2.9 records those
 * deletes in its file store lazily; killed with -9 (or by the OOM killer, a node lost) and restarted on the same
 * store, it rebuilds the stream from the message blocks and brings back messages deleted since the last flush,
 * while the consumer's state, saved apart, still has them acked: they sit below the consumer's ack floor, are
 * never delivered again and are never deleted (seen in the chaos suite's `nats-kill`: 14–302 such messages per
 * run). They fill `max_bytes` (with `discard: new`, a full stream answers 503 for good) and make the backlog
 * look non-empty. nats-server fixed this on its side later (tombstones in the file store, and a restarted
 * consumer removing what lies below its ack floor: nats-io/nats-server#5227, #7384); nomnom does the same on
 * the servers that lack it.
 *
 * What may be removed is what JetStream itself considers acked: every stream sequence at or below the
 * consumer's ack floor. The guards make "below the floor" mean "acked by our consumer":
 * - it is the stream's only consumer and its filter covers the whole stream (so no message escapes it);
 * - the consumer has not seen sequences the stream does not have (delivered ≤ last_seq): a stream whose
 *   sequence went back would reuse numbers at or below the floor for new, unacked messages.
 * The floor only rises, so a purge below the floor read a moment ago is still below the current one.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { Topology } from "./topology.ts";

/** What a sweep found: messages removed, or why it removed nothing although the stream kept acked ones. */
export type LeftoverSweep = { removed: number; floor: number; refused?: string };

/**
 * Why acked leftovers of a stream in `state` may not be purged below the consumer's `floor`, or undefined when
 * they may (pure; see the module comment for the guards).
 */
export function refuseLeftoverPurge(
  stream: { consumer_count: number; last_seq: number },
  consumer: { filter_subject?: string; delivered_stream_seq: number },
  topology: Pick<Topology, "ingest" | "consumer">,
): string | undefined {
  if (stream.consumer_count !== 1) {
    return `stream "${topology.ingest.name}" has ${stream.consumer_count} consumers, not only nomnom's`;
  }
  if (consumer.filter_subject !== topology.consumer.filter_subject) {
    return `consumer "${topology.consumer.durable_name}" filters "${consumer.filter_subject}", ` +
      `not "${topology.consumer.filter_subject}"`;
  }
  if (consumer.delivered_stream_seq > stream.last_seq) {
    return `consumer "${topology.consumer.durable_name}" delivered up to sequence ` +
      `${consumer.delivered_stream_seq}, beyond the stream's last ${stream.last_seq} (its sequence went back)`;
  }
  return undefined;
}

/** Remove the ingest stream's messages at or below the consumer's ack floor, if the guards allow it. */
export async function purgeAckedLeftovers(
  jsm: JetStreamManager,
  topology: Pick<Topology, "ingest" | "consumer">,
): Promise<LeftoverSweep> {
  const name = topology.ingest.name;
  const stream = await jsm.streams.info(name);
  const consumer = await jsm.consumers.info(name, topology.consumer.durable_name!);
  const floor = consumer.ack_floor.stream_seq;
  if (stream.state.messages === 0 || stream.state.first_seq > floor) return { removed: 0, floor };
  const refused = refuseLeftoverPurge(
    stream.state,
    { filter_subject: consumer.config.filter_subject, delivered_stream_seq: consumer.delivered.stream_seq },
    topology,
  );
  if (refused) return { removed: 0, floor, refused };
  // `seq` purges every message below it (nats-server: store.Compact(seq)): here, up to the floor included.
  const { purged } = await jsm.streams.purge(name, { seq: floor + 1 });
  return { removed: purged, floor };
}
