/**
 * 503s are logged once per outage, not once per request: a NATS or PostgreSQL outage under load used to write
 * one error line per refused request, burying everything else. The first refusal of a dependency logs a warning
 * (with the error); later ones only count; when none has been refused for OUTAGE_QUIET_MS, one info line says it
 * is over, how long it lasted and how many requests were answered 503. An outage is expected operation, not a
 * bug: warn, never error.
 */
import { setTimeout } from "node:timers";
import type { Logger } from "../log.ts";

/**
 * No 503 for this long and the outage counts as over. Longer than a refusal can take to come (a request waits up
 * to the 10 s connect timeout for PostgreSQL), or a few slow refusals would count as several outages.
 */
export const OUTAGE_QUIET_MS = 30_000;

export type OutageLog = {
  /** A request was answered 503 because `dependency` (e.g. "PostgreSQL") is unavailable. */
  refused(dependency: string, error: unknown): void;
};

/** Track outages per dependency, logging their start and end to `log`. */
export function createOutageLog(log: Logger, quietMs = OUTAGE_QUIET_MS): OutageLog {
  const open = new Map<string, { since: number; refused: number; timer?: ReturnType<typeof setTimeout> }>();
  const end = (dependency: string) => {
    const outage = open.get(dependency)!;
    open.delete(dependency);
    log.info(`${dependency} outage over: no request refused for ${quietMs} ms`, {
      dependency,
      refused_requests: outage.refused,
      duration_ms: Date.now() - outage.since,
    });
  };
  return {
    refused(dependency, error) {
      let outage = open.get(dependency);
      if (!outage) {
        outage = { since: Date.now(), refused: 0 };
        open.set(dependency, outage);
        log.warn(`${dependency} unavailable: answering 503 with Retry-After until it is back`, {
          dependency,
          error,
        });
      }
      outage.refused++;
      clearTimeout(outage.timer);
      // unref: a quiet period still running never keeps a stopping process alive.
      outage.timer = setTimeout(() => end(dependency), quietMs).unref();
    },
  };
}
