import assert from "node:assert/strict";
import { PayloadError } from "../errors.ts";
import { isTransient } from "./classify.ts";

Deno.test("isTransient() retries lost connections, deadlocks, serialization failures and schema mismatches", () => {
  for (
    const code of [
      "08006",
      "40P01",
      "40001",
      "57P01",
      "53300",
      "55000",
      "0A000",
      "42703",
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
