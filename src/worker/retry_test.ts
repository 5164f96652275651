import assert from "node:assert/strict";
import { retryDelay, retrySpentMs, shouldGiveUp } from "./retry.ts";

const settings = { maxDeliver: 3, retryBudgetMs: 10_000, retryBaseMs: 1_000, retryMaxMs: 4_000 };

Deno.test("retrySpentMs() sums the schedule's delays before this delivery, capped at the longest", () => {
  assert.equal(retrySpentMs(1, 1_000, 4_000), 0, "the first delivery has waited for nothing");
  assert.equal(retrySpentMs(2, 1_000, 4_000), 1_000);
  assert.equal(retrySpentMs(4, 1_000, 4_000), 1_000 + 2_000 + 4_000);
  assert.equal(retrySpentMs(6, 1_000, 4_000), 1_000 + 2_000 + 4_000 + 4_000 + 4_000);
});

Deno.test("shouldGiveUp() needs both the attempts and the retry budget spent, not the time since acceptance", () => {
  // A message accepted long ago (a backlog) that fails for the first time is retried, whatever its age.
  assert.equal(shouldGiveUp(1, settings), false);
  assert.equal(shouldGiveUp(3, settings), false, "3 attempts but only 3 s of retrying");
  assert.equal(shouldGiveUp(4, settings), false, "7 s of retrying");
  assert.equal(shouldGiveUp(5, settings), true, "11 s of retrying ≥ the 10 s budget");
  assert.equal(shouldGiveUp(2, { ...settings, retryBudgetMs: 0 }), false, "attempts left");
  assert.equal(shouldGiveUp(3, { ...settings, retryBudgetMs: 0 }), true);
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
