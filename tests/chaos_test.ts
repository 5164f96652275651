/**
 * The quick subset of the chaos suite (`deno task chaos --quick` runs them all; chaos/scenarios.ts): one fault
 * of each kind against an API and two workers in their own processes, on the suite's own nats-servers and
 * PostgreSQL. Each step asserts the invariant by id (every 202'd message completed or dead-lettered exactly
 * once, nothing lost, stuck or orphaned, the streams empty, no 5xx but 503) and the scenario's bounds.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runScenario, suiteSettings } from "../chaos/run.ts";
import { SCENARIOS } from "../chaos/scenarios.ts";
import { startChaosPostgres } from "../chaos/services.ts";

/**
 * One fault of each kind. In the full suite only, to keep `deno task test` short: `sigterm` (a second process
 * fault; tests/worker_stop_test.ts and tests/shutdown_test.ts cover a stopping worker) and `nats-kill` (a
 * second NATS fault; the acked messages nats-server 2.9 brought back after kill -9 are covered by
 * tests/acked_leftovers_test.ts). `postgres` passed 3 of 3 quick runs on Deno and on the Bun binary.
 */
const QUICK = ["worker-kill", "postgres", "nats-cluster", "replay", "poison", "stream-full"];

Deno.test({
  name: "chaos, quick: under each fault every accepted message ends completed or dead-lettered, exactly once",
  // Child processes and the connections the faults cut outlive single steps; each step tears its system down.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const logDir = await mkdtemp(join(tmpdir(), "nomnom-chaos-test-"));
    const pg = await startChaosPostgres();
    let failed = false;
    try {
      for (const scenario of SCENARIOS.filter((s) => QUICK.includes(s.name))) {
        await t.step(`${scenario.name}: ${scenario.fault}`, async () => {
          const result = await runScenario(scenario, pg, {
            runtime: "deno",
            logDir,
            quick: true,
            ...suiteSettings(true),
          });
          failed ||= result.violations.length > 0;
          const story = [...result.timeline, JSON.stringify(result.examples), `process logs: ${logDir}`];
          assert.deepEqual(result.violations, [], story.join("\n"));
          assert.ok(result.accepted > 0, "the load got 202s");
        });
      }
    } finally {
      await pg[Symbol.asyncDispose]();
      if (!failed) await rm(logDir, { recursive: true, force: true });
    }
  },
});
