import assert from "node:assert/strict";
import { Hono } from "hono";
import { TimeoutError } from "@nats-io/transport-node";
import { errorResponse, readBody } from "./http_error.ts";

/** The answer an app gives when a handler throws `error`. */
async function answerTo(error: Error) {
  const app = new Hono();
  app.onError(errorResponse);
  app.get("/", () => {
    throw error;
  });
  const response = await app.request("/");
  return {
    status: response.status,
    retryAfter: response.headers.get("retry-after"),
    body: await response.json(),
  };
}

const withCode = (code: string) => Object.assign(new Error(`failed: ${code}`), { code });

Deno.test("errorResponse() answers 503 with Retry-After when PostgreSQL cannot be reached", async () => {
  for (
    const code of ["ECONNREFUSED", "57P01", "57P03", "08006", "08001", "CONNECTION_CLOSED", "CONNECT_TIMEOUT"]
  ) {
    const r = await answerTo(withCode(code));
    assert.equal(r.status, 503, code);
    assert.ok(Number(r.retryAfter) > 0, code);
    assert.match(r.body.details, /PostgreSQL cannot be reached/);
  }
});

Deno.test("errorResponse() answers 503 with Retry-After when NATS does not answer", async () => {
  const r = await answerTo(new TimeoutError());
  assert.equal(r.status, 503);
  assert.equal(r.retryAfter, "1");
});

Deno.test("errorResponse() keeps 500 for a failure that is not an outage (a unique violation, a bug)", async () => {
  assert.equal((await answerTo(withCode("23505"))).status, 500);
  assert.equal((await answerTo(new TypeError("x is undefined"))).status, 500);
});

Deno.test("readBody() reads a large body whole, and a body other than its Content-Length is a 400", async () => {
  const app = new Hono();
  app.onError(errorResponse);
  app.post("/read", async (c) => c.json({ bytes: [...(await readBody(c)).slice(-3)] }));
  const body = new Uint8Array(300_000).map((_, i) => 65 + (i % 26));
  const post = (length: number, bytes = body) =>
    app.request("/read", { method: "POST", body: bytes, headers: { "content-length": String(length) } });
  const whole = await post(body.length);
  assert.equal(whole.status, 200);
  assert.deepEqual((await whole.json()).bytes, [...body.slice(-3)], "read chunk by chunk to the last byte");
  assert.equal((await post(body.length + 10)).status, 400, "fewer bytes than the Content-Length");
  assert.equal((await post(body.length - 10)).status, 400, "more bytes than the Content-Length");
  assert.equal((await post(100, body.slice(0, 100))).status, 200, "a small body, read with arrayBuffer()");
  // Beside Transfer-Encoding a Content-Length does not frame the body and was not checked against the route's
  // limit: it must not size a buffer (2 GB here), and the body is read as it comes.
  const chunked = await app.request("/read", {
    method: "POST",
    body,
    headers: { "content-length": "2000000000", "transfer-encoding": "chunked" },
  });
  assert.equal(chunked.status, 200);
  assert.deepEqual((await chunked.json()).bytes, [...body.slice(-3)]);
});
