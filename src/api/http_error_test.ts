import assert from "node:assert/strict";
import { Hono } from "hono";
import { TimeoutError } from "@nats-io/transport-node";
import { errorResponse } from "./http_error.ts";

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
