/**
 * Settling and the invariant, by id. Every message answered 202 ends `completed` (its order row and every line
 * item written once) or `dlq` (its entry in the dead-letter stream), exactly once: the status API and the table
 * agree, the history holds one final event since the message was last (re)accepted, no line item lacks its order,
 * the tables hold as many orders as there are completed messages, and the streams hold nothing but the dead
 * letters.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { Sent } from "./load.ts";
import type { System } from "./system.ts";

/** Per-id outcome counts and the system-wide findings. */
export type Verdict = {
  completed: number;
  dlq: number;
  lost: number;
  duplicated: number;
  stuck: number;
  /** Ended in the other final status than the scenario expects (a good order in the DLQ, a poison one written). */
  wrong: number;
  /** Longest gap between final events while a message was waiting, in ms. */
  longestStallMs: number;
  /** The same, without the time the scenario excused (the fault left nothing to make progress with). */
  stallBeyondFaultMs: number;
  /** What broke the invariant, one line each (empty: it held). */
  violations: string[];
  /** A few ids per kind of failure, to look up. */
  examples: Record<string, string[]>;
};

type History = { status: string; at: string }[];
type Row = { message_id: string; status: string; received_at: Date | null; history: History };

const FINAL = new Set(["completed", "dlq"]);
const TERMINAL = new Set(["completed", "dlq", "dropped"]);
const chunks = <T>(list: T[], size: number) =>
  Array.from({ length: Math.ceil(list.length / size) }, (_, i) => list.slice(i * size, (i + 1) * size));

/** Ingest stream messages and consumer backlog (pending + unacked) of the system's namespace. */
export async function streamBacklog(
  system: System,
): Promise<{ messages: number; pending: number; detail: string }> {
  const nc = await connect({ servers: system.nats.url.split(","), reconnect: false, timeout: 3000 });
  try {
    const jsm = await jetstreamManager(nc);
    const stream = await jsm.streams.info(`${system.namespace}_ingest`);
    const consumer = await jsm.consumers.info(`${system.namespace}_ingest`, `${system.namespace}_worker`);
    const { first_seq, last_seq } = stream.state;
    const detail =
      `stream seq ${first_seq}..${last_seq}, consumer ack floor ${consumer.ack_floor.stream_seq}, ` +
      `delivered ${consumer.delivered.stream_seq}, redelivered ${consumer.num_redelivered}`;
    return {
      messages: stream.state.messages,
      pending: consumer.num_pending + consumer.num_ack_pending,
      detail,
    };
  } finally {
    await nc.close();
  }
}

/** Message ids with an entry in the dead-letter stream, and how many entries each has. */
async function deadLetterEntries(system: System): Promise<Map<string, number>> {
  const nc = await connect({ servers: system.nats.url.split(","), reconnect: false, timeout: 3000 });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(`${system.namespace}_dlq`, { subjects_filter: ">" });
    const entries = new Map<string, number>();
    for (const [subject, n] of Object.entries(info.state.subjects ?? {})) {
      entries.set(subject.slice(subject.lastIndexOf(".") + 1), n);
    }
    return entries;
  } finally {
    await nc.close();
  }
}

/**
 * Wait (at most `timeoutMs`) until every id has a final status and the ingest stream is empty; resolves with
 * how long it took. Read from the table: the status API is checked against it afterwards.
 */
export async function settle(system: System, ids: string[], timeoutMs: number): Promise<number> {
  const started = performance.now();
  let emptySince: number | undefined;
  while (performance.now() - started < timeoutMs) {
    try {
      let final = 0;
      for (const part of chunks(ids, 10_000)) {
        const [{ n }] = await system.sql`SELECT count(*)::int AS n FROM nomnom.messages
          WHERE message_id = ANY(${part}) AND status IN ('completed', 'dlq')`;
        final += n;
      }
      if (final === ids.length) {
        const backlog = await streamBacklog(system);
        if (backlog.messages === 0 && backlog.pending === 0) {
          if (emptySince === undefined) emptySince = performance.now();
          // Empty twice, a second apart: a cluster node that has just rejoined can report stale consumer state.
          else if (performance.now() - emptySince >= 1000) return emptySince - started;
        } else emptySince = undefined;
      }
    } catch {
      // PostgreSQL or NATS is still coming back: keep waiting.
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return performance.now() - started;
}

/** Final statuses as the API reports them (POST /ingest/status, 1,000 ids a request). */
async function apiStatuses(url: string, ids: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const part of chunks(ids, 1000)) {
    const response = await fetch(`${url}/ingest/status`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message_ids: part }),
    });
    if (!response.ok) {
      throw new Error(`POST /ingest/status answered ${response.status}: ${await response.text()}`);
    }
    const { results } = await response.json() as { results: { message_id: string; status: string }[] };
    for (const r of results) out.set(r.message_id, r.status);
  }
  return out;
}

/**
 * The longest time with at least one message waiting (accepted or replayed, not yet final) and no message
 * reaching a final status, from the status rows' histories; time inside the `excused` windows (epoch ms: the
 * fault itself left nothing to make progress with, e.g. a cluster without a leader) does not count.
 */
export function longestStall(rows: Row[], excused: [number, number][] = []): number {
  const overlap = (from: number, to: number) =>
    excused.reduce((sum, [a, b]) => sum + Math.max(0, Math.min(to, b) - Math.max(from, a)), 0);
  const events: [number, number, boolean][] = []; // time, change in waiting messages, is a final event
  for (const row of rows) {
    if (row.received_at) events.push([row.received_at.getTime(), +1, false]);
    let waiting = true;
    for (const event of row.history ?? []) {
      const at = Date.parse(event.at);
      if (TERMINAL.has(event.status) && waiting) {
        events.push([at, -1, true]);
        waiting = false;
      } else if (event.status === "accepted" && !waiting) {
        events.push([at, +1, false]);
        waiting = true;
      }
    }
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let waiting = 0;
  let since = 0; // last final event, or when waiting went from 0 to 1
  let longest = 0;
  for (const [at, change, final] of events) {
    if (final && waiting > 0) longest = Math.max(longest, at - since - overlap(since, at));
    if (final) since = at;
    if (change > 0 && waiting === 0) since = at;
    waiting += change;
  }
  return longest;
}

/** Check the invariant for every accepted message; `expected` says which final status each should have. */
export async function checkInvariant(
  system: System,
  sent: Sent[],
  expected: (s: Sent) => "completed" | "dlq",
  excused: [number, number][] = [],
): Promise<Verdict> {
  const ids = sent.map((s) => s.id);
  const verdict: Verdict = {
    completed: 0,
    dlq: 0,
    lost: 0,
    duplicated: 0,
    stuck: 0,
    wrong: 0,
    longestStallMs: 0,
    stallBeyondFaultMs: 0,
    violations: [],
    examples: {},
  };
  const note = (
    kind: keyof Verdict & ("lost" | "duplicated" | "stuck" | "wrong"),
    id: string,
    why: string,
  ) => {
    verdict[kind]++;
    const list = verdict.examples[kind] ??= [];
    if (list.length < 5) list.push(`${id}: ${why}`);
  };
  const api = await apiStatuses(system.url, ids);
  const rows = new Map<string, Row>();
  const written = new Map<string, { orders: number; items: number }>();
  for (const part of chunks(ids, 10_000)) {
    for (
      const r of await system.sql<Row[]>`SELECT message_id, status, received_at, history
        FROM nomnom.messages WHERE message_id = ANY(${part})`
    ) rows.set(r.message_id, r);
    for (
      const r of await system.sql`SELECT o._message_id AS id, count(DISTINCT o.order_key)::int AS orders,
        count(li.*)::int AS items FROM orders o LEFT JOIN order_line_items li ON li.order_key = o.order_key
        WHERE o._message_id = ANY(${part}) GROUP BY o._message_id`
    ) written.set(r.id, { orders: r.orders, items: r.items });
  }
  const entries = await deadLetterEntries(system);
  let disagree = 0;

  for (const s of sent) {
    const status = api.get(s.id) ?? "unknown";
    const row = rows.get(s.id);
    if ((row?.status ?? "unknown") !== status && status !== "unknown") disagree++;
    const rowsOf = written.get(s.id);
    const entry = entries.get(s.id) ?? 0;
    if (status === "completed") {
      verdict.completed++;
      if (!rowsOf) note("lost", s.id, "completed, but its order row is missing");
      else if (rowsOf.items < s.items) note("lost", s.id, `${rowsOf.items} of ${s.items} line items written`);
      else if (rowsOf.items > s.items) note("duplicated", s.id, `${rowsOf.items} line items for ${s.items}`);
      if (entry > 0) note("duplicated", s.id, "completed and also in the dead-letter stream");
    } else if (status === "dlq") {
      verdict.dlq++;
      if (entry === 0) {
        note("lost", s.id, "status dlq, but no entry in the dead-letter stream: its payload is gone");
      }
      if (entry > 1) note("duplicated", s.id, `${entry} entries in the dead-letter stream`);
      if (rowsOf) note("duplicated", s.id, "in the DLQ, and its order was written too");
    } else if (status === "unknown") {
      note("lost", s.id, "the status API does not know an id it answered 202 for");
    } else {
      note("stuck", s.id, `still ${status}`);
    }
    if (FINAL.has(status) && status !== expected(s)) {
      note("wrong", s.id, `${status}, expected ${expected(s)}`);
    }
    // Exactly once: one final event since the message was last (re)accepted.
    const history = row?.history ?? [];
    const lastAccepted = history.map((e) => e.status).lastIndexOf("accepted");
    const finals = history.slice(lastAccepted + 1).filter((e) => TERMINAL.has(e.status)).length;
    if (finals > 1) note("duplicated", s.id, `${finals} final events in its history`);
  }
  if (disagree > 0) {
    verdict.violations.push(`${disagree} status(es) differ between the status API and the table`);
  }

  const [{ orphans }] = await system.sql`SELECT count(*)::int AS orphans FROM order_line_items li
    WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_key = li.order_key)`;
  if (orphans > 0) verdict.violations.push(`${orphans} line item(s) without their order`);
  const [{ orders }] = await system.sql`SELECT count(*)::int AS orders FROM orders`;
  const [{ done }] = await system.sql`SELECT count(*)::int AS done FROM nomnom.messages
    WHERE status = 'completed' AND entity = 'Order'`;
  if (orders !== done) verdict.violations.push(`${orders} order rows for ${done} completed messages`);
  const [{ dead }] = await system.sql`SELECT count(*)::int AS dead FROM nomnom.messages WHERE status = 'dlq'`;
  const inDlq = [...entries.values()].reduce((a, b) => a + b, 0);
  if (inDlq !== dead) {
    verdict.violations.push(`${inDlq} dead-letter entries for ${dead} messages with status dlq`);
  }
  const backlog = await streamBacklog(system);
  if (backlog.messages > 0 || backlog.pending > 0) {
    verdict.violations.push(
      `the ingest stream still holds ${backlog.messages} message(s), consumer backlog ${backlog.pending} ` +
        `(${backlog.detail})`,
    );
  }
  for (const kind of ["lost", "duplicated", "stuck", "wrong"] as const) {
    if (verdict[kind] > 0) verdict.violations.push(`${verdict[kind]} ${kind}`);
  }
  verdict.longestStallMs = longestStall([...rows.values()]);
  verdict.stallBeyondFaultMs = longestStall([...rows.values()], excused);
  return verdict;
}
