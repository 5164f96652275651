/**
 * Pulling from the durable consumer: one bounded `fetch` after another, each with idle heartbeats, instead of
 * `consume()`.
 *
 * Why heartbeats: a pull request lives on the server that leads the consumer. When that server dies, the
 * request dies with it and nothing tells the client; the worker used to wait for its pull to expire (30 s)
 * before asking the new leader. With `idle_heartbeat` the server sends a heartbeat while the pull is open, and
 * nats.js ends a fetch after two missed heartbeats ("heartbeats missed", @nats-io/jetstream consumer.js
 * IdleHeartbeatMonitor, maxOut 2), so a new pull goes to the new leader within seconds.
 *
 * Why fetch and not consume: consume() sends queued re-pulls even after close(); a fetch is one request, whose
 * end the client sees (filled, expired, or heartbeats missed).
 *
 * How a pull ends on stop: by draining its subscription (UNSUB, then PING; what arrives before the PONG is still
 * taken), never by a bare unsubscribe. The client cannot withdraw a pull request, and a message the server had
 * already sent to it — unread in our socket, say, in a worker that was busy or frozen when told to stop — would
 * be dropped by the client after a bare unsubscribe and wait the whole ack wait. After the drain the server
 * knows the request's inbox has no interest and drops the request instead of delivering to it (nats-server
 * consumer.go, nextWaiting), so what the worker hands back (nak) goes to another worker's pull at once.
 */
import type { Consumer, ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "../log.ts";

/** Longest a pull waits on the server for messages: an idle worker asks again this often. */
export const PULL_EXPIRES_MS = 5_000;
/** The server's heartbeat interval while a pull is open; two missed end the pull (a dead leader: ~2 s). */
export const PULL_HEARTBEAT_MS = 1_000;
/** Pause before pulling again after a failed pull (no leader yet, NATS reconnecting). */
const PULL_RETRY_MS = 250;
/** Longest a stopping pull waits for the server's PONG (NATS unreachable): then it is closed outright. */
const DRAIN_WAIT_MS = 2_000;

/** What endFetch uses of a fetch's subscription (nats-core's Subscription). */
type FetchSubscription = { drain(): Promise<void>; isClosed(): boolean; isDraining(): boolean };

/**
 * End a fetch, taking what the server sent before it learned of the end (see the module comment). The fetch's
 * subscription is nats.js's (PullConsumerMessagesImpl.sub; its iterator ends once a draining subscription
 * closes): without one, or if NATS does not answer in time, the fetch is closed outright.
 */
function endFetch(fetch: ConsumerMessages): void {
  const sub = (fetch as unknown as { sub?: FetchSubscription }).sub;
  if (sub?.isDraining()) return;
  if (!sub || sub.isClosed()) return void fetch.close();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((_, reject) => timer = setTimeout(reject, DRAIN_WAIT_MS));
  Promise.race([sub.drain(), late]).catch(() => fetch.close()).finally(() => clearTimeout(timer));
}

export type Puller = {
  /** Messages from successive fetches, until `stop()` and the last fetch has ended. */
  messages: AsyncIterable<JsMsg>;
  /**
   * Pull no more and end the open fetch: `messages` still yields what the server had sent to it, then ends
   * (within a round trip to NATS, at most DRAIN_WAIT_MS).
   */
  stop(): void;
};

/** Pull up to `batch` messages per fetch from `consumer`. */
export function createPuller(consumer: Consumer, batch: number, log: Logger): Puller {
  let stopped = false;
  let current: ConsumerMessages | undefined;
  let failing = 0;
  let wake: () => void = () => {};

  async function* pull(): AsyncGenerator<JsMsg> {
    while (!stopped) {
      try {
        current = await consumer.fetch({
          max_messages: batch,
          expires: PULL_EXPIRES_MS,
          idle_heartbeat: PULL_HEARTBEAT_MS,
        });
        if (stopped) endFetch(current);
        for await (const msg of current) {
          if (failing > 0) {
            log.info("pulling from the consumer again", { failed_pulls: failing });
            failing = 0;
          }
          yield msg;
        }
      } catch (error) {
        if (stopped) break;
        // Logged once per outage, not once per retry.
        if (failing++ === 0) log.warn("pull from the consumer failed; pulling again", { error });
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, PULL_RETRY_MS);
        });
      } finally {
        current = undefined;
      }
    }
  }

  return {
    messages: pull(),
    stop() {
      stopped = true;
      wake();
      if (current) endFetch(current);
    },
  };
}
