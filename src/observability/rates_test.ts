import assert from "node:assert/strict";
import { createRateCounter } from "./rates.ts";

Deno.test("createRateCounter() keeps totals and forgets events older than a minute", () => {
  let t = 1_000_000;
  const counter = createRateCounter(() => t);
  counter.add("Order", 3);
  t += 30_000;
  counter.add("Order");
  assert.deepEqual(counter.snapshot().get("Order"), { total: 4, lastMinute: 4 });
  t += 40_000;
  assert.deepEqual(counter.snapshot().get("Order"), { total: 4, lastMinute: 1 });
  t += 60_000;
  assert.deepEqual(counter.snapshot().get("Order"), { total: 4, lastMinute: 0 });
});
