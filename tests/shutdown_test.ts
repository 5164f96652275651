/**
 * SIGTERM under load: readiness turns 503 while the listener stays open for a drain period, then the process
 * stops accepting, finishes what it took (uploads in flight included), commits, acks, exits 0 — and nothing
 * accepted is lost or half-written.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { connect } from "node:net";
import { readFile } from "node:fs/promises";
import process from "node:process";
import { createTestEnv, statuses, type TestEnv, TPCH, waitFor } from "./harness.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const exampleOrder = JSON.parse(await readFile(TPCH + "example_order.json", "utf8"));

/** Run nomnom --role=all in a child process; resolves once the API listens. */
async function startChild(env: TestEnv, flags: string[]) {
  const child: ChildProcess = spawn(process.execPath, [
    "run",
    "-A",
    MAIN,
    "--role=all",
    `--namespace=${env.namespace}`,
    `--entities=${env.config.entitiesDir}`,
    `--nats-url=${env.config.natsUrl}`,
    `--database-url=${env.config.databaseUrl}`,
    "--host=127.0.0.1",
    "--port=0",
    "--stream-max-bytes=67108864",
    "--dlq-max-bytes=16777216",
    "--shutdown-timeout-ms=10000",
    ...flags,
  ], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, LOG_FORMAT: "json" } });
  const out = { child, logs: "", url: "", exited: undefined as unknown as Promise<number | string | null> };
  child.stderr!.on("data", (chunk) => out.logs += chunk);
  out.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal)));
  out.url = await waitFor(
    "the api to listen",
    () => out.logs.match(/"api listening".*"url":"(http:[^"]+)"/)?.[1],
  );
  return out;
}

Deno.test("SIGTERM under load loses nothing and leaves nothing half-written", async () => {
  const env = await createTestEnv();
  try {
    const started = await startChild(env, ["--shutdown-drain-ms=500"]);
    const { child, exited, url } = started;

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
    // process.kill, not child.kill: under Deno the latter did not deliver a plain, single SIGTERM.
    process.kill(child.pid!, "SIGTERM");
    const code = await exited;
    stop = true;
    await Promise.all(clients);
    assert.equal(code, 0, `exit code ${code} (logs: ${started.logs.slice(-1500)})`);
    assert.match(started.logs, /"msg":"stopped"/);

    // Whatever the stopped process had not taken yet is still in the stream: a new worker finishes it.
    await env.start("worker");
    await waitFor(`${accepted.length} accepted messages completed`, async () => {
      const s = await statuses(env.sql, accepted);
      return accepted.every((id) => s.get(id) === "completed");
    }, 30_000);
    const [{ orders }] = await env.sql`SELECT count(*)::int AS orders FROM orders`;
    assert.equal(orders, accepted.length);
    const partial = await env.sql`
      SELECT o.order_key FROM orders o LEFT JOIN order_line_items i USING (order_key)
      GROUP BY o.order_key HAVING count(i.*) <> 2`;
    assert.equal(partial.length, 0, "every order has both of its line items");
  } finally {
    await env.close();
  }
});

Deno.test("on SIGTERM /ready answers 503 while the listener stays open, and an upload in flight is still accepted", async () => {
  const env = await createTestEnv();
  try {
    // Long enough for the probe and the late POST below on a loaded 2-core machine.
    const started = await startChild(env, ["--shutdown-drain-ms=3000"]);
    const { child, exited, url } = started;
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
    process.kill(child.pid!, "SIGTERM");

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

    assert.equal(await exited, 0, started.logs.slice(-1500));
    await env.start("worker");
    await waitFor("both messages completed", async () => {
      const s = await statuses(env.sql, [slowId, lateId]);
      return s.get(slowId) === "completed" && s.get(lateId) === "completed";
    });
  } finally {
    await env.close();
  }
});

Deno.test("SIGINT (a person's Ctrl-C) skips the drain that SIGTERM gives load balancers", async () => {
  const env = await createTestEnv();
  try {
    const started = await startChild(env, ["--shutdown-drain-ms=60000"]);
    process.kill(started.child.pid!, "SIGINT");
    assert.equal(await started.exited, 0, started.logs.slice(-1500));
    assert.match(started.logs, /"msg":"stopping".*"signal":"SIGINT","drain_ms":0/);
  } finally {
    await env.close();
  }
});
