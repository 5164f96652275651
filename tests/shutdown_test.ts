/**
 * SIGTERM under load: readiness turns 503 while the listener stays open for a drain period, then the process
 * stops accepting, finishes what it took (uploads in flight included), commits, acks, exits 0 — and nothing
 * accepted is lost or half-written.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { readFile } from "node:fs/promises";
import { apiUrl } from "./child.ts";
import { createTestEnv, type TestEnv, TPCH, waitFor, waitForStatus } from "./harness.ts";

const exampleOrder = JSON.parse(await readFile(TPCH + "example_order.json", "utf8"));

/** Run nomnom --role=all in a child process; resolves once the API listens. */
async function startChild(env: TestEnv, flags: string[]) {
  const child = env.spawn("all", ["--shutdown-timeout-ms=10000", ...flags]);
  return { child, url: await apiUrl(child) };
}

Deno.test("SIGTERM under load loses nothing and leaves nothing half-written", async () => {
  await using env = await createTestEnv();
  const { child, url } = await startChild(env, ["--shutdown-drain-ms=500"]);

  const accepted: string[] = [];
  let stop = false;
  const client = async (n: number) => {
    for (let i = 0; !stop; i++) {
      try {
        const response = await fetch(`${url}/ingest/message/Order`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ ...exampleOrder, order_key: `O-${n}-${i}` }),
        });
        const body = await response.json();
        if (response.status === 202) accepted.push(body.message_id);
      } catch {
        return; // the listener is gone: this client is done
      }
    }
  };
  const clients = Array.from({ length: 8 }, (_, n) => client(n));
  await waitFor("some load", () => accepted.length >= 200);
  await child.stop("SIGTERM", 0);
  stop = true;
  await Promise.all(clients);
  assert.match(child.stderr(), /"msg":"stopped"/);

  // Whatever the stopped process had not taken yet is still in the stream: a new worker finishes it.
  await env.start("worker");
  await waitForStatus(env.sql, accepted, "completed");
  const [{ orders }] = await env.sql`SELECT count(*)::int AS orders FROM orders`;
  assert.equal(orders, accepted.length);
  const partial = await env.sql`
      SELECT o.order_key FROM orders o LEFT JOIN order_line_items i USING (order_key)
      GROUP BY o.order_key HAVING count(i.*) <> 2`;
  assert.equal(partial.length, 0, "every order has both of its line items");
});

Deno.test("on SIGTERM /ready answers 503 while the listener stays open, and an upload in flight is still accepted", async () => {
  await using env = await createTestEnv();
  // Long enough for the probe and the late POST below on a loaded 2-core machine.
  const { child, url } = await startChild(env, ["--shutdown-drain-ms=3000"]);
  const body = JSON.stringify({ ...exampleOrder, order_key: "SLOW-1" });
  const half = Math.floor(body.length / 2);
  // An upload that has sent half of its body when the signal comes.
  const socket = connect(Number(new URL(url).port), "127.0.0.1");
  let answer = "";
  socket.on("data", (chunk) => answer += chunk);
  await new Promise((resolve) => socket.once("connect", resolve));
  socket.write(
    `POST /ingest/message/Order HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body.slice(0, half)}`,
  );
  await new Promise((r) => setTimeout(r, 100));
  child.signal("SIGTERM");

  // A load balancer probing now sees 503 from a listener that still answers, and what it still sends is served.
  const ready = await waitFor("/ready to answer 503", async () => {
    const r = await fetch(`${url}/ready`);
    const json = await r.json();
    return r.status === 503 ? json : undefined;
  });
  assert.ok(ready.checks.some((c: { name: string; ok: boolean }) => c.name === "running" && !c.ok));
  const late = await fetch(`${url}/ingest/message/Order`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...exampleOrder, order_key: "LATE-1" }),
  });
  assert.equal(late.status, 202, "served during the drain");
  const lateId = (await late.json()).message_id;

  socket.write(body.slice(half)); // not end(): Deno drops a body whose connection is half-closed
  await new Promise((resolve) => socket.once("close", resolve));
  const status = Number(answer.match(/^HTTP\/1\.1 (\d+)/)?.[1]);
  assert.equal(status, 202, answer.slice(0, 300));
  const slowId = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)).message_id;

  await child.expectExit(0);
  await env.start("worker");
  await waitForStatus(env.sql, [slowId, lateId], "completed");
});

Deno.test("SIGINT (a person's Ctrl-C) skips the drain that SIGTERM gives load balancers", async () => {
  await using env = await createTestEnv();
  const { child } = await startChild(env, ["--shutdown-drain-ms=60000"]);
  await child.stop("SIGINT", 0);
  assert.match(child.stderr(), /"msg":"stopping".*"signal":"SIGINT","drain_ms":0/);
});
