import assert from "node:assert/strict";
import { createSignalTally, SAME_PRESS_MS } from "./signals.ts";

Deno.test("createSignalTally(): one press delivered several times stops gracefully; a later press forces", () => {
  let clock = 0;
  const tally = createSignalTally(() => clock);
  assert.equal(tally(), "stop");
  clock += 17;
  assert.equal(tally(), "repeat", "the same SIGINT forwarded by deno task");
  clock += 5;
  assert.equal(tally(), "repeat", "and by npx");
  clock += SAME_PRESS_MS + 1;
  assert.equal(tally(), "force", "the person pressed Ctrl-C again");
});
