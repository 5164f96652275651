/**
 * Issue 14's limits against a real listener, NATS and PostgreSQL: CORS preflights, rate limits per API key and
 * per client address (the socket's address, as Deno and Bun hand it over), batches charged by their lines and
 * refused before anything is published, and no state change without a JSON content type.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { STATUS_TABLE } from "../src/db/statements.ts";
import { ROOT, runChild } from "./child.ts";
import { createResponseChecker } from "./openapi_check.ts";
import {
  createTempDir,
  createTestEnv,
  post,
  rejectAbove,
  request,
  TPCH,
  waitFor,
  waitForStatus,
} from "./harness.ts";

const STATUS = `${STATUS_TABLE.schema}.${STATUS_TABLE.name}`;
const exampleOrder = JSON.parse(await readFile(TPCH + "example_order.json", "utf8"));
const KEYS = { limited: "limited-key-0123456789", other: "other-key-0123456789abc" };

/** Messages stored in the status table (every published message has its row). */
async function stored(sql: Parameters<typeof rejectAbove>[0]): Promise<number> {
  const [{ n }] = await sql.unsafe(`SELECT count(*)::int AS n FROM ${STATUS}`);
  return n;
}

Deno.test("CORS over a real listener: none by default, a preflight from an allowed origin, nothing for others", async () => {
  await using env = await createTestEnv();
  const plain = await env.start("api");
  const preflight = (url: string, origin: string) =>
    fetch(`${url}/ingest/message/Order`, {
      method: "OPTIONS",
      headers: {
        Origin: origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization, idempotency-key",
      },
    });
  const cors = (response: Response) =>
    [...response.headers.keys()].filter((h) => h.startsWith("access-control"));
  const none = await preflight(plain.url, "https://shop.example");
  await none.body?.cancel();
  assert.deepEqual(cors(none), [], "no --cors-origins: no CORS header at all");

  const api = await env.start("api", ["--cors-origins=https://shop.example"]);
  const allowed = await preflight(api.url, "https://shop.example");
  await allowed.body?.cancel();
  assert.equal(allowed.status, 204);
  assert.equal(allowed.headers.get("access-control-allow-origin"), "https://shop.example");
  assert.equal(allowed.headers.get("access-control-allow-methods"), "GET,POST,DELETE");
  const allowHeaders = allowed.headers.get("access-control-allow-headers")!.split(",");
  for (const h of ["Authorization", "Content-Type", "X-API-Key", "Idempotency-Key"]) {
    assert.ok(allowHeaders.includes(h), `${h} is allowed`);
  }
  assert.ok(Number(allowed.headers.get("access-control-max-age")) > 0);
  assert.match(allowed.headers.get("vary")!, /Origin/);

  const denied = await preflight(api.url, "https://evil.example");
  await denied.body?.cancel();
  assert.equal(denied.status, 403);
  assert.deepEqual(cors(denied), []);
  const sent = await post(`${api.url}/ingest/message/Order`, exampleOrder, {
    Origin: "https://evil.example",
  });
  assert.equal(
    sent.status,
    202,
    "CORS is the browser's check; the server still answers a non-browser client",
  );
});

Deno.test("rate limit per API key: 429 with Retry-After and RateLimit fields, batches count lines, nothing published when refused", async () => {
  await using dir = await createTempDir();
  const keysFile = join(dir.path, "keys.yaml");
  await writeFile(
    keysFile,
    `- { name: limited, key: "${KEYS.limited}", scopes: [ingest, read] }\n` +
      `- { name: other, key: "${KEYS.other}", scopes: [ingest, read] }\n`,
  );
  await using env = await createTestEnv();
  const api = await env.start("all", [
    `--api-keys-file=${keysFile}`,
    "--rate-limit=1",
    "--rate-limit-burst=10",
  ]);
  const as = (key: string) => ({ Authorization: `Bearer ${key}` });
  const sendBatch = (lines: number, prefix: string) =>
    request(`${api.url}/ingest/batch/Order`, {
      method: "POST",
      body: Array.from({ length: lines }, (_, i) =>
        JSON.stringify({ ...exampleOrder, order_key: `${prefix}${i}` }))
        .join("\n"),
      headers: { ...as(KEYS.limited), "content-type": "application/x-ndjson" },
    });

  const batch = await sendBatch(9, "A");
  assert.equal(batch.status, 202);
  assert.equal(batch.headers.get("ratelimit-policy"), '"messages";q=10;w=10');
  // 9 of 10 used by the batch's lines: a batch of 10 (it would fit only after 9 s) is refused whole.
  const refused = await sendBatch(10, "R");
  assert.equal(refused.status, 429);
  assert.ok(Number(refused.headers.get("retry-after")) >= 1);
  assert.equal(refused.headers.get("ratelimit-policy"), '"messages";q=10;w=10');
  assert.match(refused.headers.get("ratelimit")!, /^"messages";r=\d;t=\d+$/);
  assert.match(refused.body.error, /rate limit/);
  // The refusal is the one the OpenAPI document describes.
  const document = await (await fetch(`${api.url}/openapi.json`)).json();
  const again = await fetch(`${api.url}/ingest/batch/Order`, {
    method: "POST",
    body: `${JSON.stringify(exampleOrder)}\n`.repeat(10),
    headers: { ...as(KEYS.limited), "content-type": "application/x-ndjson" },
  });
  assert.equal(again.status, 429);
  await createResponseChecker(document)("POST", "/ingest/batch/Order", again);

  const ids = (batch.body.results as { message_id: string }[]).map((r) => r.message_id);
  await waitForStatus(env.sql, ids, "completed");
  assert.equal(await stored(env.sql), 9, "the refused batch published none of its lines");
  const [{ n }] = await env.sql`SELECT count(*)::int AS n FROM orders WHERE order_key LIKE 'R%'`;
  assert.equal(n, 0);

  // Another key has its own budget.
  const other = await post(
    `${api.url}/ingest/message/Order`,
    { ...exampleOrder, order_key: "X1" },
    as(KEYS.other),
  );
  assert.equal(other.status, 202);

  // The limited key's bucket refills at 1 message a second: the batch of 2 fits again (no sleep: polled).
  const later = await waitFor("the limited key's bucket refilled", async () => {
    const answer = await sendBatch(2, "L");
    return answer.status === 202 ? answer : undefined;
  });
  assert.equal(later.body.accepted, 2);
  const metrics = await request(`${api.url}/metrics`, { headers: as(KEYS.other) });
  assert.match(
    metrics.text,
    /nomnom_rate_limited_requests_total\{route="\/ingest\/batch\/:entity"[^}]*\} [1-9]/,
  );
});

Deno.test("without keys the limit is per client address (the socket's, X-Forwarded-For ignored)", async () => {
  await using env = await createTestEnv();
  const api = await env.start("api", ["--rate-limit=1", "--rate-limit-burst=3"]);
  // Each claims another address: were X-Forwarded-For believed, every one would be a new client.
  const answers: { status: number; body: Record<string, unknown> }[] = [];
  for (let i = 0; i < 10 && !answers.some((a) => a.status === 429); i++) {
    answers.push(
      await post(`${api.url}/ingest/message/Order`, exampleOrder, { "X-Forwarded-For": `203.0.113.${i}` }),
    );
  }
  const refused = answers.find((a) => a.status === 429);
  assert.ok(refused, `a 429 among ${answers.map((a) => a.status)}`);
  assert.match(String(refused.body.error), /address 127\.0\.0\.1/);
  // Probes are never counted.
  assert.equal((await request(`${api.url}/health`)).status, 200);
  assert.equal((await request(`${api.url}/ready`)).status, 200);
});

Deno.test("a bodyless replay or drop without a JSON content type is a 415 and changes nothing", async () => {
  await using env = await createTestEnv();
  await env.migrate();
  await rejectAbove(env.sql, "orders", "ship_priority", 32767);
  const all = await env.start("all");
  const bad = await post(`${all.url}/ingest/message/Order`, { ...exampleOrder, ship_priority: 70_000 });
  const id = bad.body.message_id as string;
  await waitForStatus(env.sql, id, "dlq");
  const check = createResponseChecker(await (await fetch(`${all.url}/openapi.json`)).json());
  for (
    const [method, path] of [
      ["POST", `/dlq/${id}/replay`],
      ["DELETE", `/dlq/${id}`],
      ["POST", "/dlq/replay?all=true"],
    ]
  ) {
    for (const headers of [{}, { "content-type": "text/plain" }] as Record<string, string>[]) {
      const response = await fetch(`${all.url}${path}`, { method, headers });
      assert.equal(response.status, 415, `${method} ${path} ${JSON.stringify(headers)}`);
      await check(method, path, response);
    }
  }
  const [{ status }] = await env.sql.unsafe(`SELECT status FROM ${STATUS} WHERE message_id = $1`, [id]);
  assert.equal(status, "dlq", "nothing was replayed or dropped");
  const replayed = await request(`${all.url}/dlq/${id}/replay`, {
    method: "POST",
    headers: { "content-type": "application/json" },
  });
  assert.equal(replayed.status, 202, "with the type it works");
});

Deno.test("Bun's listener hands the client's address to the app as Deno's does", async () => {
  await using dir = await createTempDir();
  const script = join(dir.path, "echo.ts");
  await writeFile(
    script,
    `import { serveHttp } from ${JSON.stringify(join(ROOT, "src/api/serve.ts"))};\n` +
      `const server = await serveHttp((_r, env) => new Response(env.remoteAddress ?? "none"), "127.0.0.1", 0);\n` +
      `const answer = await (await fetch("http://127.0.0.1:" + server.port + "/")).text();\n` +
      `console.log(answer);\nawait server.close();\n`,
  );
  const bun = await runChild(join(ROOT, "node_modules/.bin/bun"), [script]);
  assert.equal(bun.code, 0, bun.stderr);
  assert.equal(bun.stdout.trim(), "127.0.0.1");
  const deno = await runChild(join(ROOT, "node_modules/.bin/deno"), ["run", "-A", script], { cwd: ROOT });
  assert.equal(deno.code, 0, deno.stderr);
  assert.equal(deno.stdout.trim(), "127.0.0.1");
});
