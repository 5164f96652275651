import assert from "node:assert/strict";
import { Hono } from "hono";
import { silentLogger } from "../log.ts";
import { createHub, type HubOptions } from "./hub.ts";

type Event = { id: string; event: string; data: unknown };

/** Read an SSE stream, collecting events and comment lines, until `until` holds (or the stream ends). */
function follow(stream: ReadableStream<Uint8Array>) {
  const events: Event[] = [];
  const comments: string[] = [];
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let ended = false;
  const done = (async () => {
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return void (ended = true);
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = Object.fromEntries(
          block.split("\n").filter((l) => !l.startsWith(":")).map((
            l,
          ) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 2)]),
        );
        for (const l of block.split("\n")) if (l.startsWith(":")) comments.push(l);
        if (fields.data !== undefined) {
          events.push({ id: fields.id, event: fields.event, data: JSON.parse(fields.data) });
        }
      }
    }
  })();
  return {
    events,
    comments,
    ended: () => ended,
    async close() {
      await reader.cancel().catch(() => {});
      await done;
    },
  };
}

async function until(what: string, check: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function hubWith(parts: Record<string, unknown>, options: Partial<HubOptions> = {}) {
  return createHub({
    read: () => Promise.resolve({ ...parts }),
    log: silentLogger,
    intervalMs: 10,
    epoch: "e1",
    ...options,
  });
}

Deno.test("resuming with Last-Event-ID sends exactly the parts changed since, each once and newest; another process's id resends all", async () => {
  const parts: Record<string, unknown> = { a: 1, b: 1 };
  const hub = hubWith(parts);
  try {
    const first = follow(hub.open());
    await until("both parts", () => first.events.length === 2);
    const lastId = first.events.at(-1)!.id;
    await first.close();

    // Meanwhile (another page keeps the poller running): a changes twice, c appears, b stays.
    const other = follow(hub.open());
    const polled = hub.polls();
    parts.a = 2;
    await until("a poll", () => hub.polls() > polled + 1);
    parts.a = 3;
    parts.c = "new";
    await until("a poll", () => hub.polls() > polled + 3);

    const resumed = follow(hub.open(lastId));
    await until("the missed parts", () => resumed.events.length >= 2);
    await until("another poll", () => hub.polls() > polled + 6);
    assert.deepEqual(resumed.events.map((e) => [e.event, e.data]), [["a", 3], ["c", "new"]]);
    const seqs = resumed.events.map((e) => Number(e.id.split("-")[1]));
    assert.ok(seqs.every((s) => s > Number(lastId.split("-")[1])), "nothing at or before the last id again");

    const elsewhere = follow(hub.open("otherprocess-7"));
    await until("every part", () => elsewhere.events.length === 3);
    assert.deepEqual(elsewhere.events.map((e) => e.event).sort(), ["a", "b", "c"]);
    await Promise.all([resumed.close(), other.close(), elsewhere.close()]);
  } finally {
    hub.close();
  }
});

Deno.test("updates are coalesced: a part that changes a thousand times between polls is sent once per poll, newest value", async () => {
  let changes = 0;
  const ticking = setInterval(() => (changes += 100), 1);
  const hub = createHub({
    read: () => Promise.resolve({ n: changes }),
    log: silentLogger,
    intervalMs: 50,
    epoch: "e1",
  });
  try {
    const client = follow(hub.open());
    await until("ten polls", () => hub.polls() >= 10);
    const polls = hub.polls();
    const seen = client.events.length;
    assert.ok(changes > 10 * seen, `${changes} changes, ${seen} events`);
    assert.ok(seen <= polls + 1, `at most one event per poll (${seen} events, ${polls} polls)`);
    const values = client.events.map((e) => e.data as number);
    assert.deepEqual(
      values,
      [...values].sort((a, b) => a - b),
      "in order, never an old value after a new one",
    );
    await client.close();
  } finally {
    clearInterval(ticking);
    hub.close();
  }
});

Deno.test("a heartbeat comment comes while nothing changes, and close() ends every stream", async () => {
  const hub = hubWith({ a: 1 }, { heartbeatMs: 60 });
  const client = follow(hub.open());
  await until("two heartbeats", () => client.comments.filter((c) => c.startsWith(": heartbeat")).length >= 2);
  assert.equal(client.events.length, 1, "no event repeated as a keep-alive");
  hub.close();
  await until("the stream ended", client.ended);
  assert.deepEqual(hub.clients(), []);
});

Deno.test("a client that never reads cannot hold up the others or grow its buffer: it is closed, the others keep receiving", async () => {
  const big = (n: number) => `${n}`.padEnd(128 * 1024, ".");
  let n = 0;
  const maxBufferBytes = 256 * 1024;
  const hub = createHub({
    read: () => Promise.resolve({ a: big(++n), b: big(n) }),
    log: silentLogger,
    intervalMs: 10,
    stallMs: 300,
    maxBufferBytes,
  });
  const app = new Hono().get(
    "/events",
    () => new Response(hub.open(), { headers: { "Content-Type": "text/event-stream" } }),
  );
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const { port } = server.addr as Deno.NetAddr;
  let peak = 0;
  try {
    // The slow client: sends its request and never reads a byte.
    const slow = await Deno.connect({ hostname: "127.0.0.1", port });
    await slow.write(new TextEncoder().encode(`GET /events HTTP/1.1\r\nHost: x\r\n\r\n`));
    const reader = follow((await fetch(`http://127.0.0.1:${port}/events`)).body!);
    await until("both clients", () => hub.clients().length === 2);
    await until("the slow client blocked", () => hub.clients().some((c) => c.blockedMs > 0), 20_000);
    const before = reader.events.length;
    await until("the slow client closed", () => {
      for (const c of hub.clients()) peak = Math.max(peak, c.queuedBytes);
      return hub.clients().length === 1;
    }, 20_000);
    await until("more events for the reading client", () => reader.events.length > before + 5);
    // The queue takes one write past its mark at most (one event per part: 2 × 128 KiB here).
    assert.ok(peak <= maxBufferBytes + 2 * 130 * 1024, `peak queue ${peak} bytes`);
    assert.equal(hub.clients().length, 1);
    slow.close();
    await reader.close();
  } finally {
    hub.close();
    await server.shutdown();
  }
});

Deno.test("one poll feeds every open page: ten clients do not read the database ten times", async () => {
  let reads = 0;
  const hub = createHub({
    read: () => Promise.resolve({ n: ++reads }),
    log: silentLogger,
    intervalMs: 20,
    epoch: "e1",
  });
  try {
    const clients = Array.from({ length: 10 }, () => follow(hub.open()));
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 400));
    await until("every client has the latest", () => clients.every((c) => c.events.at(-1)?.data === reads));
    // A poller per client would read ten times as often; timers under load only ever fire later.
    const most = Math.ceil((Date.now() - started) / 20) + 1;
    assert.ok(reads <= most, `${reads} reads in ${Date.now() - started} ms at one per 20 ms, for 10 clients`);
    assert.ok(reads >= 2, "it polls");
    await Promise.all(clients.map((c) => c.close()));
    const stopped = hub.polls();
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(hub.polls() <= stopped + 1, "no page open: no polling");
  } finally {
    hub.close();
  }
});

Deno.test("on Bun's listener too (the binary), a client that never reads is closed at its bound and the others keep receiving", async () => {
  const root = new URL("../../", import.meta.url).pathname;
  const dir = await Deno.makeTempDir({ prefix: "nomnom-hub-bun-" });
  const script = `${dir}/slow.ts`;
  // hub.ts and serve.ts import nothing at run time, so Bun runs them from a temp dir.
  await Deno.writeTextFile(
    script,
    `import { createHub } from ${JSON.stringify(`${root}src/dashboard/hub.ts`)};
import { serveHttp } from ${JSON.stringify(`${root}src/api/serve.ts`)};
import { connect } from "node:net";
const max = 256 * 1024;
let n = 0;
const big = (i: number) => String(i).padEnd(128 * 1024, ".");
const log = { info() {}, warn() {} } as never;
const hub = createHub({ read: async () => ({ a: big(++n), b: big(n) }), log, intervalMs: 10, stallMs: 300, maxBufferBytes: max });
const server = await serveHttp(() => new Response(hub.open(), { headers: { "Content-Type": "text/event-stream" } }), "127.0.0.1", 0);
const slow = connect(server.port, "127.0.0.1");
slow.pause();
slow.write("GET /events HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n");
const reader = (await fetch("http://127.0.0.1:" + server.port + "/events")).body!.getReader();
let received = 0;
(async () => { for (;;) { const r = await reader.read(); if (r.done) return; received += r.value.length; } })();
let peak = 0, blocked = false;
const start = Date.now();
while (Date.now() - start < 15_000 && !(blocked && hub.clients().length === 1)) {
  for (const c of hub.clients()) (peak = Math.max(peak, c.queuedBytes), blocked ||= c.blockedMs > 0);
  await new Promise((r) => setTimeout(r, 10));
}
const atClose = received;
await new Promise((r) => setTimeout(r, 300));
console.log(JSON.stringify({ blocked, clients: hub.clients().length, peak, max, more: received > atClose }));
hub.close();
slow.destroy();
await server.close();
process.exit(0);
`,
  );
  try {
    const out = await new Deno.Command(`${root}node_modules/.bin/bun`, { args: [script], cwd: dir }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const r = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
    assert.equal(r.blocked, true, "Bun's stream applies backpressure to the hub (its queue fills)");
    assert.equal(r.clients, 1, "the slow client was closed");
    assert.ok(r.peak <= r.max + 2 * 130 * 1024, `peak queue ${r.peak} bytes`);
    assert.equal(r.more, true, "the reading client still receives");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
