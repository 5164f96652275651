/**
 * SIGTERM under load: the process stops accepting, finishes what it took, commits, acks, exits 0 — and nothing
 * accepted is lost or half-written.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import process from "node:process";
import { createTestEnv, statuses, TPCH, waitFor } from "./harness.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const exampleOrder = JSON.parse(await readFile(TPCH + "example_order.json", "utf8"));

Deno.test("SIGTERM under load loses nothing and leaves nothing half-written", async () => {
  const env = await createTestEnv();
  try {
    const child = spawn(process.execPath, [
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
    ], { stdio: ["ignore", "ignore", "pipe"] });
    let logs = "";
    child.stderr!.on("data", (chunk) => logs += chunk);
    const exited = new Promise<number | string | null>((resolve) =>
      child.once("exit", (code, signal) => resolve(code ?? signal))
    );
    const url = await waitFor(
      "the api to listen",
      () => logs.match(/"api listening".*"url":"(http:[^"]+)"/)?.[1],
    );

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
    assert.equal(code, 0, `exit code ${code} (logs: ${logs.slice(-1500)})`);
    assert.match(logs, /"msg":"stopped"/);

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
