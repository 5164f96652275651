import assert from "node:assert/strict";
import { Hono } from "hono";
import { TimeoutError } from "@nats-io/transport-node";
import { checkDlqFilter, errorResponse, HttpError } from "./http_error.ts";

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

Deno.test("checkDlqFilter() rejects what PostgreSQL would fail on with a 400 naming the parameter", () => {
  const b64url = (text: string) => btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  const id = "0190f3c2-7b1e-7000-8000-000000000000";
  const cases: [Record<string, unknown>, string][] = [
    [{ since: "garbage" }, "since"],
    [{ until: "99999-01-01" }, "until"],
    [{ entity: "a\0b" }, "entity"],
    [{ error: 5 }, "error"],
    [{ cursor: "not base64!" }, "cursor"],
    [{ cursor: b64url(`x|${id}`) }, "cursor"],
    [{ cursor: b64url(`2026-02-30 00:00:00+00|${id}`) }, "cursor"],
    [{ cursor: b64url(`2026-01-01 00:00:00+00|nope`) }, "cursor"],
  ];
  for (const [filter, parameter] of cases) {
    assert.throws(
      () => checkDlqFilter(filter),
      (e: Error) =>
        e instanceof HttpError && e.status === 400 && e.message.startsWith(`"${parameter}"`) &&
        (e.details as { parameter: string }).parameter === parameter,
      JSON.stringify(filter),
    );
  }
  checkDlqFilter({ since: "2026-01-01", until: "2026-01-02T03:04:05Z", entity: "Order", error: "x" });
  checkDlqFilter({ cursor: b64url(`2026-01-02 03:04:05.123456+00|${id}`) });
  checkDlqFilter({ cursor: b64url(`2026-01-02 03:04:05+05:30|${id}`) });
});
