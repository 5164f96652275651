/**
 * Which workers are connected, as any API replica can see it: every worker answers a core NATS request on the
 * topology's presence subject, and a reader collects the answers for a short while. Nothing is stored, so the
 * count is right however many API replicas ask, and a worker that died stops answering at once (a heartbeat
 * table would need an expiry to guess that). NATS has no cheaper way: consumer info does not list the clients
 * pulling, and the server's connection list needs the system account.
 */
import { type NatsConnection, NoRespondersError } from "@nats-io/transport-node";
import { hostname } from "node:os";
import process from "node:process";
import type { Topology } from "./topology.ts";

/** What a worker says about itself. */
export type WorkerPresence = { name: string; pid: number; started_at: string; version: string };

/** How long a reader waits for answers: workers answer from their event loop, within milliseconds when idle. */
export const PRESENCE_WAIT_MS = 300;

/** Answer presence pings until the connection drains or `stop()` is called. */
export function answerPresence(
  nc: NatsConnection,
  topology: Topology,
  version: string,
): { stop(): void } {
  const me: WorkerPresence = {
    name: hostname(),
    pid: process.pid,
    started_at: new Date().toISOString(),
    version,
  };
  const body = JSON.stringify(me);
  const sub = nc.subscribe(topology.presenceSubject, {
    callback: (_error, msg) => {
      msg.respond(body);
    },
  });
  return { stop: () => sub.unsubscribe() };
}

/** The workers that answered within `waitMs`, sorted by name and pid. */
export async function readPresence(
  nc: NatsConnection,
  topology: Topology,
  waitMs = PRESENCE_WAIT_MS,
): Promise<WorkerPresence[]> {
  const workers: WorkerPresence[] = [];
  try {
    const answers = await nc.requestMany(topology.presenceSubject, "", {
      strategy: "timer",
      maxWait: waitMs,
    });
    for await (const msg of answers) {
      try {
        workers.push(msg.json<WorkerPresence>());
      } catch { /* not one of ours */ }
    }
  } catch (error) {
    // The server's answer when nobody subscribes: no worker is connected, which is a figure, not a failure.
    if (!(error instanceof NoRespondersError)) throw error;
  }
  return workers.sort((a, b) => a.name.localeCompare(b.name) || a.pid - b.pid);
}
