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

Deno.test("retryDelay() doubles per attempt and stays under the cap", () => {
  assert.ok(retryDelay(1, 1000, 60_000) <= 1200 && retryDelay(1, 1000, 60_000) >= 800);
  assert.ok(retryDelay(4, 1000, 60_000) >= 6400 && retryDelay(4, 1000, 60_000) <= 9600);
  assert.ok(retryDelay(30, 1000, 60_000) <= 72_000);
});
