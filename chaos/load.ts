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
  /** Answers by HTTP status ("202", "503", …) or by failure: "refused", "reset" (no answer), "timeout". */
  answers: Record<string, number>;
  /** 503 answers without a Retry-After header. */
  noRetryAfter: number;
  /** The first few bodies of answers that were neither 202 nor 503. */
  unexpected: string[];
};

export type Load = {
  stats: LoadStats;
  /** Requests answered so far (any status). */
  answered(): number;
  /** Resolves once `messages` were answered and `keepGoing()` turned false. */
  done: Promise<void>;
};

export type LoadOptions = {
  url: string;
  /** Requests to get an answer to (each a new order). */
  messages: number;
  concurrency: number;
  /** Unique per scenario, so that no two scenarios' orders share a key. */
  prefix: string;
  /** While true after `messages` were answered, one client keeps a trickle going (a fault is still running). */
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
  const stats: LoadStats = { accepted: [], answers: {}, noRetryAfter: 0, unexpected: [] };
  let next = 0;
  let answered = 0;
  const count = (key: string) => stats.answers[key] = (stats.answers[key] ?? 0) + 1;

  /** One request; false when it got no HTTP answer (the caller backs off and does not count it). */
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
    while (answered + inFlight < options.messages) {
      inFlight++;
      const ok = await send(next++).catch(() => false);
      inFlight--; // in the same step as the count below: no other client may see one without the other
      if (ok) answered++;
      else await pause(100);
    }
  };
  const trickle = async () => {
    while (options.keepGoing?.()) {
      const n = next++;
      if (await send(n)) answered++;
      await pause(50);
    }
  };
  const done = Promise.all(Array.from({ length: options.concurrency }, client)).then(trickle);
  return { stats, answered: () => answered, done };
}
