import assert from "node:assert/strict";
import { createPublishWindow } from "./publish_window.ts";

Deno.test("createPublishWindow() lets `size` through at once and the rest in the order they asked", async () => {
  const window = createPublishWindow(2);
  const order: number[] = [];
  const taken = [1, 2, 3, 4].map((n) => window.acquire().then(() => order.push(n)));
  await Promise.all(taken.slice(0, 2));
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(order, [1, 2], "the third and fourth wait");
  window.release();
  await taken[2];
  window.release();
  await taken[3];
  assert.deepEqual(order, [1, 2, 3, 4]);
  window.release();
  window.release();
  // Both slots free again: two more go through at once.
  await Promise.all([window.acquire(), window.acquire()]);
});
