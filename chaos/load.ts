/**
 * The load generator: single-order POSTs from a bounded number of concurrent clients, recording every 202's
 * message id (with what was sent) and every other answer by status. A request without an answer (the API is
 * being restarted) backs off and is not counted; a 503 is counted and backed off, as a client honouring
 * Retry-After would.
 */
import { generateOrders, type Order } from "../bench/orders.ts";

/** What was sent in a request answered 202. */
export type Sent = { id: string; orderKey: string; items: number; poison: boolean };

export type LoadStats = {
  accepted: Sent[];
  /** Longest time without a 202 while the load ran, in ms (the API unavailable, or refusing everything). */
  longestUnavailableMs: number;
  /** Answers by HTTP status ("202", "503", …) or by failure: "refused", "reset" (no answer), "timeout". */
  answers: Record<string, number>;
  /** 503 answers without a Retry-After header. */
  noRetryAfter: number;
  /** The first few bodies of answers that were neither 202 nor 503. */
  unexpected: string[];
};

export type Load = {
  stats: LoadStats;
  /** Requests answered 202 so far. */
  accepted(): number;
  /** Whether the load has ended. */
  ended(): boolean;
  /** Resolves once `messages` were accepted (or the time ran out) and `keepGoing()` turned false. */
  done: Promise<void>;
};

export type LoadOptions = {
  url: string;
  /** Orders to get a 202 for (a 503 or no answer does not count: that order is given up, a new one sent). */
  messages: number;
  /** The load ends after this long even if fewer were accepted (NATS never came back, say). */
  maxMs: number;
  concurrency: number;
  /** Unique per scenario, so that no two scenarios' orders share a key. */
  prefix: string;
  /** While true after `messages` were accepted, one client keeps a trickle going (a fault is still running). */
  keepGoing?: () => boolean;
  /** Orders the scenario marks as poison (see POISON_COMMENT). */
  poison?: (n: number) => boolean;
};

/** The comment of a poison order: the scenario's CHECK constraint makes PostgreSQL refuse it (SQLSTATE 23514). */
export const POISON_COMMENT = "chaos-poison";

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

function createOrder(prefix: string, n: number, poison: boolean): Order {
  const [order] = generateOrders(1, n + 1, `${prefix}-${n}-`);
  return poison ? { ...order, comment: POISON_COMMENT } : order;
}

/** Start the load; it stops by itself. */
export function startLoad(options: LoadOptions): Load {
  const stats: LoadStats = {
    accepted: [],
    longestUnavailableMs: 0,
    answers: {},
    noRetryAfter: 0,
    unexpected: [],
  };
  const started = performance.now();
  let lastAccepted = started;
  let next = 0;
  let ended = false;
  const expired = () => performance.now() - started > options.maxMs;
  const count = (key: string) => stats.answers[key] = (stats.answers[key] ?? 0) + 1;

  /** One request; false when it got no HTTP answer (the caller backs off). */
  const send = async (n: number): Promise<boolean> => {
    const poison = options.poison?.(n) ?? false;
    const order = createOrder(options.prefix, n, poison);
    let response: Response;
    try {
      response = await fetch(`${options.url}/ingest/message/Order`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(order),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      // Deno says "fetch failed" and puts the reason in the cause.
      const text = `${(error as Error)?.message ?? error} ${(error as Error)?.cause ?? ""}`;
      count(
        (error as Error)?.name === "TimeoutError" ? "timeout" : /refused/i.test(text) ? "refused" : "reset",
      );
      return false;
    }
    const body = await response.text().catch(() => "");
    count(String(response.status));
    if (response.status === 202) {
      const id = JSON.parse(body).message_id as string;
      stats.accepted.push({ id, orderKey: order.order_key, items: order.line_items.length, poison });
      const now = performance.now();
      stats.longestUnavailableMs = Math.max(stats.longestUnavailableMs, now - lastAccepted);
      lastAccepted = now;
    } else if (response.status === 503) {
      if (!response.headers.get("retry-after")) stats.noRetryAfter++;
      await pause(50);
    } else if (stats.unexpected.length < 10) {
      stats.unexpected.push(`${response.status} ${body.slice(0, 300)}`);
    }
    return true;
  };

  // A request without an answer is not sent again with the same order: it may have been accepted all the
  // same (its answer lost), and a second message with the same key would be a second write of it.
  let inFlight = 0;
  const client = async () => {
    while (stats.accepted.length + inFlight < options.messages && !expired()) {
      inFlight++;
      const ok = await send(next++).catch(() => false);
      inFlight--; // in the same step as the check above: no client may see neither a 202 nor a request in flight
      if (!ok) await pause(100);
    }
  };
  const trickle = async () => {
    while (options.keepGoing?.() && !expired()) {
      await send(next++);
      await pause(50);
    }
  };
  const done = Promise.all(Array.from({ length: options.concurrency }, client)).then(trickle).finally(() => {
    ended = true;
    const now = performance.now();
    stats.longestUnavailableMs = Math.max(stats.longestUnavailableMs, now - lastAccepted);
  });
  return { stats, accepted: () => stats.accepted.length, ended: () => ended, done };
}
