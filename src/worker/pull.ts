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
 * Why fetch and not consume: the client cannot withdraw a pull request. Once unsubscribed, whatever the server
 * still delivers to an open request of ours is lost to us and waits the ack wait; consume() even sends queued
 * re-pulls after close(). A fetch is one request whose end the client sees (filled, expired, or heartbeats
 * missed), so a stopping worker can let it end before it hands messages back (see worker.ts).
 */
import type { Consumer, ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "../log.ts";

/** Longest a pull waits on the server for messages: an idle worker asks again this often. */
export const PULL_EXPIRES_MS = 5_000;
/** The server's heartbeat interval while a pull is open; two missed end the pull (a dead leader: ~2 s). */
export const PULL_HEARTBEAT_MS = 1_000;
/** Pause before pulling again after a failed pull (no leader yet, NATS reconnecting). */
const PULL_RETRY_MS = 250;

export type Puller = {
  /** Messages from successive fetches, until `stop()` and the last fetch has ended. */
  messages: AsyncIterable<JsMsg>;
  /**
   * Pull no more. `now`: also end the open fetch at once (when nothing will be handed back, an unfilled request
   * left on the server costs nothing we hold); otherwise the open fetch runs to its end, which comes at once
   * under load (the request is filled) and within PULL_EXPIRES_MS otherwise.
   */
  stop(now: boolean): void;
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
        if (stopped) void current.close();
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
    stop(now) {
      stopped = true;
      wake();
      if (now) void current?.close();
    },
  };
}
