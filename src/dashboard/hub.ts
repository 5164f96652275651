/**
 * The dashboard's live feed: ONE poller per process reads the figures (PostgreSQL, NATS) and every open page is
 * fed from that one read, over Server-Sent Events. The poller runs only while a page is open.
 *
 * The feed is a set of named parts ("overview", "messages", "rows.Order", …), each a JSON document. A read
 * that changes a part gives it a new event id (`<process epoch>-<sequence>`); a client is sent the newest
 * version of each part it has not seen. So:
 * - updates are coalesced: at most one event per part per poll (`intervalMs`), however many messages moved;
 * - resuming with `Last-Event-ID` sends exactly the parts changed since that id, each once, newest version:
 *   no gap (every part the client missed arrives) and no repeat (nothing at or before that id is re-sent). An
 *   id of another process (a restart, another replica behind a load balancer) resends every part.
 * - a slow client cannot hold up the others or grow memory: each client's stream has a byte-bounded queue
 *   (`maxBufferBytes`). While it is full, the client is only marked as owing some parts (a set of names, the
 *   data is shared), and gets their newest versions once it reads again. A client whose queue stays full for
 *   `stallMs` is closed; its page reconnects and resumes from its last id.
 * A comment line every `heartbeatMs` keeps proxies from closing an idle stream and lets the page notice a
 * dead connection.
 */
import type { Logger } from "../log.ts";

/** Reads every part (the one poll). A part that cannot be read now is left out: its last version stands. */
export type FeedReader = () => Promise<Record<string, unknown>>;

export type HubOptions = {
  read: FeedReader;
  log: Logger;
  intervalMs?: number;
  heartbeatMs?: number;
  stallMs?: number;
  maxBufferBytes?: number;
  /** The process epoch of event ids (tests pin it). */
  epoch?: string;
};

/** What the hub holds per client, for /stats-like introspection and the slow-client test. */
export type HubClientInfo = { queuedBytes: number; owed: number; blockedMs: number };

export type Hub = {
  /** A new client's SSE byte stream, resuming after `lastEventId` when it is one of this process's ids. */
  open(lastEventId?: string | null): ReadableStream<Uint8Array>;
  /** Open streams, for the page's "clients of this process" and tests. */
  clients(): HubClientInfo[];
  /** Polls done since start (tests). */
  polls(): number;
  /** End every stream and stop polling (the API's shutdown: open streams would keep the server waiting). */
  close(): void;
};

export const SSE_DEFAULTS = {
  intervalMs: 1_000,
  // Under Bun's 10 s idle timeout for a response that sends nothing.
  heartbeatMs: 5_000,
  stallMs: 30_000,
  maxBufferBytes: 1 << 20,
} as const;

type Client = {
  controller: ReadableStreamDefaultController<Uint8Array>;
  /** The highest event sequence this client was sent. */
  seen: number;
  /** Parts changed since the client was last written to, or not sent yet because its queue was full. */
  owed: Set<string>;
  blockedSince?: number;
  lastWrite: number;
};

const encoder = new TextEncoder();

/** Create the hub of one process. */
export function createHub(options: HubOptions): Hub {
  const o = { ...SSE_DEFAULTS, ...options };
  const epoch = o.epoch ?? Math.floor(Date.now()).toString(36) + Math.random().toString(36).slice(2, 6);
  let seq = 0;
  let polls = 0;
  const latest = new Map<string, { seq: number; json: string }>();
  const clients = new Set<Client>();
  let polling: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let closed = false;

  const frame = (part: string) => {
    const { seq: s, json } = latest.get(part)!;
    return `id: ${epoch}-${s}\nevent: ${part}\ndata: ${json}\n\n`;
  };
  const drop = (client: Client, reason?: Error) => {
    if (!clients.delete(client)) return;
    try {
      if (reason) client.controller.error(reason);
      else client.controller.close();
    } catch { /* already closed by the reader */ }
    if (clients.size === 0) stopPolling();
  };
  /** Write what the client is owed, newest versions in event order, if its queue has room. */
  const flush = (client: Client) => {
    if (client.owed.size === 0) return;
    if ((client.controller.desiredSize ?? 0) <= 0) {
      client.blockedSince ??= Date.now();
      return;
    }
    client.blockedSince = undefined;
    const parts = [...client.owed].sort((a, b) => latest.get(a)!.seq - latest.get(b)!.seq);
    client.owed.clear();
    client.seen = Math.max(client.seen, ...parts.map((p) => latest.get(p)!.seq));
    client.lastWrite = Date.now();
    client.controller.enqueue(encoder.encode(parts.map(frame).join("")));
  };

  const poll = async () => {
    try {
      const parts = await o.read();
      polls++;
      for (const [part, value] of Object.entries(parts)) {
        const json = JSON.stringify(value);
        if (latest.get(part)?.json === json) continue;
        latest.set(part, { seq: ++seq, json });
        for (const client of clients) client.owed.add(part);
      }
    } catch (error) {
      o.log.warn("dashboard poll failed", { error });
    }
    const now = Date.now();
    for (const client of clients) {
      flush(client);
      if (client.blockedSince !== undefined && now - client.blockedSince >= o.stallMs) {
        o.log.info("dashboard client too slow, closed (it resumes from its last event)", {
          queued_bytes: o.maxBufferBytes - (client.controller.desiredSize ?? 0),
        });
        drop(client, new Error("client too slow"));
      }
    }
  };
  const schedule = () => {
    if (closed || clients.size === 0) return;
    timer = setTimeout(() => {
      timer = undefined;
      polling = poll().finally(() => (polling = undefined, schedule()));
    }, o.intervalMs);
  };
  const startPolling = () => {
    if (!polling && !timer) polling = poll().finally(() => (polling = undefined, schedule()));
    heartbeat ??= setInterval(() => {
      const now = Date.now();
      for (const client of clients) {
        if (now - client.lastWrite < o.heartbeatMs) continue;
        if ((client.controller.desiredSize ?? 0) <= 0) continue; // a full queue is the stall check's business
        client.lastWrite = now;
        client.controller.enqueue(encoder.encode(`: heartbeat ${new Date(now).toISOString()}\n\n`));
      }
    }, Math.max(50, Math.floor(o.heartbeatMs / 2)));
  };
  function stopPolling() {
    clearTimeout(timer);
    timer = undefined;
    clearInterval(heartbeat);
    heartbeat = undefined;
  }

  /** The sequence a Last-Event-ID of this process stands for; 0 (send everything) for any other id. */
  const resumeFrom = (id: string | null | undefined): number => {
    const m = /^([a-z0-9]+)-(\d+)$/.exec(id ?? "");
    if (!m || m[1] !== epoch) return 0;
    const n = Number(m[2]);
    return n <= seq ? n : 0;
  };

  return {
    open(lastEventId) {
      let client: Client;
      return new ReadableStream<Uint8Array>({
        start(controller) {
          if (closed) return controller.close();
          const seen = resumeFrom(lastEventId);
          client = { controller, seen, owed: new Set(), lastWrite: Date.now() };
          for (const [part, v] of latest) if (v.seq > seen) client.owed.add(part);
          clients.add(client);
          // How long EventSource waits before reconnecting (the page's own reader has its own backoff).
          controller.enqueue(encoder.encode("retry: 1000\n\n"));
          flush(client);
          startPolling();
        },
        pull() {
          if (client) flush(client);
        },
        cancel() {
          if (client) drop(client);
        },
      }, { highWaterMark: o.maxBufferBytes, size: (chunk) => chunk.byteLength });
    },
    clients() {
      const now = Date.now();
      return [...clients].map((c) => ({
        queuedBytes: o.maxBufferBytes - (c.controller.desiredSize ?? 0),
        owed: c.owed.size,
        blockedMs: c.blockedSince === undefined ? 0 : now - c.blockedSince,
      }));
    },
    polls: () => polls,
    close() {
      closed = true;
      stopPolling();
      for (const client of [...clients]) drop(client);
    },
  };
}
