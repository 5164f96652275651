import assert from "node:assert/strict";
import { PayloadError } from "../errors.ts";
import { isTransient, retryDelay } from "./classify.ts";

Deno.test("isTransient() retries lost connections, deadlocks and serialization failures", () => {
  for (
    const code of [
      "08006",
      "40P01",
      "40001",
      "57P01",
      "53300",
      "55000",
      "0A000",
      "CONNECTION_CLOSED",
      "ECONNREFUSED",
    ]
  ) {
    assert.equal(isTransient({ code }), true, code);
  }
  assert.equal(isTransient(new Error("no code")), true);
});

Deno.test("isTransient() dead-letters data the database rejects and invalid payloads", () => {
  for (const code of ["21000", "22003", "23505", "23502", "22P02", "54000"]) {
    assert.equal(isTransient({ code }), false, code);
  }
  assert.equal(isTransient(new PayloadError("Order", [{ field: "x", message: "bad" }])), false);
});

Deno.test("retryDelay() doubles per attempt and never exceeds the configured maximum", () => {
  for (let i = 0; i < 200; i++) {
    const first = retryDelay(1, 1000, 60_000);
    assert.ok(first >= 800 && first <= 1000, `attempt 1: ${first}`);
    const fourth = retryDelay(4, 1000, 60_000);
    assert.ok(fourth >= 6400 && fourth <= 8000, `attempt 4: ${fourth}`);
    const late = retryDelay(30, 1000, 60_000);
    assert.ok(late >= 48_000 && late <= 60_000, `attempt 30: ${late}`);
  }
});
