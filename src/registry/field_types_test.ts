import assert from "node:assert/strict";
import { PayloadError } from "../errors.ts";
import { decodeMessage } from "./derive.ts";
import { loadRegistry } from "./load.ts";

const registry = await loadRegistry(new URL("../../entities", import.meta.url).pathname);

Deno.test("decodeMessage() refuses what the columns cannot hold, naming each field: year 0000, a numeric too long", () => {
  const order = registry.entities.get("Order")!;
  const message = {
    order_id: "o-1",
    customer_id: "c-1",
    status: "placed",
    total: "1e131072",
    currency: "EUR",
    placed_at: "0000-06-01T10:00:00Z",
    note: "ok",
    line_items: [],
  };
  assert.throws(() => decodeMessage(registry, order, message), (error: unknown) => {
    assert.ok(error instanceof PayloadError);
    assert.deepEqual(error.issues.map((i) => i.field).sort(), ["placed_at", "total"]);
    assert.match(error.issues.find((i) => i.field === "total")!.message, /out of range for numeric/);
    assert.match(error.issues.find((i) => i.field === "placed_at")!.message, /from year 0001/);
    return true;
  });
  const fine = { ...message, total: "1e131071", placed_at: "0001-01-01T00:00:00Z" };
  assert.doesNotThrow(() => decodeMessage(registry, order, fine));
  assert.throws(() => decodeMessage(registry, order, { ...fine, total: "ten" }), /numeric string/);
});
