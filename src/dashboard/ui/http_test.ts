import assert from "node:assert/strict";
import { followFeed } from "./http.ts";

Deno.test("the page's feed reconnects by itself after a drop and sends the last event id it got, so the hub resends only what changed", async () => {
  const asked: (string | null)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    asked.push(request.headers.get("Last-Event-ID"));
    // The first stream delivers two events and drops; the next request is refused, which parks the page's
    // loop until a new key (restart()), so the test leaves nothing running.
    if (asked.length > 1) return Response.json({ error: "enough" }, { status: 401 });
    const body = 'retry: 1000\n\nid: p1-4\nevent: overview\ndata: {"n":1}\n\n: heartbeat\n\n' +
      "id: p1-7\nevent: messages\ndata: [1,\ndata: 2]\n\n";
    return new Response(body, { headers: { "Content-Type": "text/event-stream" } });
  });
  const { port } = server.addr as Deno.NetAddr;
  const events: [string, unknown][] = [];
  const states: string[] = [];
  followFeed(`http://127.0.0.1:${port}/dashboard/events`, {
    event: (name, data) => events.push([name, data]),
    state: (s) => states.push(s),
  });
  const deadline = Date.now() + 10_000;
  while (!states.includes("unauthorized") && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  await server.shutdown();
  assert.deepEqual(
    events,
    [["overview", { n: 1 }], ["messages", [1, 2]]],
    "comments skipped, data lines joined",
  );
  assert.deepEqual(asked, [null, "p1-7"], "the reconnect resumes after the last event");
  assert.deepEqual(states.slice(0, 3), ["connecting", "live", "reconnecting"]);
});
