/**
 * When to give up on a message that keeps failing transiently (pure). The retry budget is measured along the
 * retry schedule — the delays this message has been given so far — not from the time it was accepted: a message
 * that waited an hour in a backlog has not been retried for an hour, and must not be dead-lettered on its first
 * failure.
 */
import type { Config } from "../config.ts";

export type RetrySettings = Pick<
  Config["worker"],
  "maxDeliver" | "retryBudgetMs" | "retryBaseMs" | "retryMaxMs"
>;

/** Nominal delay (no jitter) before delivery `attempt + 1`: exponential from `baseMs`, capped at `maxMs`. */
export function nominalDelay(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
}

/**
 * Delay before the next attempt: exponential from `baseMs`, capped at `maxMs`, minus up to 20 % jitter (so that
 * messages failed together do not all come back together). Jitter only shortens: `--retry-max-ms` is a promise.
 */
export function retryDelay(attempt: number, baseMs: number, maxMs: number): number {
  const exact = nominalDelay(attempt, baseMs, maxMs);
  return Math.min(exact, Math.round(exact * (0.8 + Math.random() * 0.2)));
}

/** Time spent waiting between the first delivery and delivery `deliveryCount`, by the retry schedule. */
export function retrySpentMs(deliveryCount: number, baseMs: number, maxMs: number): number {
  let spent = 0;
  for (let attempt = 1; attempt < deliveryCount; attempt++) spent += nominalDelay(attempt, baseMs, maxMs);
  return spent;
}

/** True once delivery `deliveryCount` failed with the attempts AND the time budget both used up. */
export function shouldGiveUp(deliveryCount: number, settings: RetrySettings): boolean {
  return deliveryCount >= settings.maxDeliver &&
    retrySpentMs(deliveryCount, settings.retryBaseMs, settings.retryMaxMs) >= settings.retryBudgetMs;
}
