/**
 * One scenario from start to verdict: start the system, load it while the fault runs, settle, check the
 * invariant by id, measure, tear down. Shared by `deno task chaos` (chaos/chaos.ts) and tests/chaos_test.ts.
 */
import { checkInvariant, settle } from "./check.ts";
import { startLoad } from "./load.ts";
import type { FaultContext, Scenario } from "./scenarios.ts";
import postgres from "postgres";
import type { PrivatePostgres } from "./services.ts";
import { type Crash, type RunOptions, startSystem } from "./system.ts";

/** What one scenario measured; `violations` empty means the invariant and the scenario's bounds held. */
export type ScenarioResult = {
  scenario: string;
  fault: string;
  accepted: number;
  completed: number;
  dlq: number;
  lost: number;
  duplicated: number;
  stuck: number;
  wrong: number;
  longest_stall_s: number;
  /** The longest stall without the time the fault excused (a cluster electing leaders), in s. */
  stall_beyond_fault_s: number;
  settle_s: number;
  /** Longest time the load got no 202 (the API unavailable or answering 503), in s. */
  longest_unavailable_s: number;
  /** Answers of the load by status (or "refused", "reset", "timeout"). */
  answers: Record<string, number>;
  /** Error-level log lines of the API over the scenario. */
  api_error_lines: number;
  crashes: Crash[];
  timeline: string[];
  violations: string[];
  examples: Record<string, string[]>;
};

export type ScenarioOptions = RunOptions & {
  quick: boolean;
  messages: number;
  concurrency: number;
  /** Longest wait for everything to settle after the load and the fault. */
  settleTimeoutMs: number;
  log?: (line: string) => void;
};

/** Messages, clients and settle bound of a full and of a quick run (the test suite runs the quick one). */
export function suiteSettings(
  quick: boolean,
): Pick<ScenarioOptions, "messages" | "concurrency" | "settleTimeoutMs"> {
  return quick
    ? { messages: 1500, concurrency: 16, settleTimeoutMs: 45_000 }
    : { messages: 10_000, concurrency: 32, settleTimeoutMs: 120_000 };
}

/** Whether `pg` accepts a connection and a query. */
async function answers(pg: PrivatePostgres): Promise<boolean> {
  const sql = postgres(pg.url, { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    return await sql`SELECT 1`.then(() => true, () => false);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

const round = (ms: number) => Math.round(ms / 100) / 10;

/** Run `scenario` on a fresh system against `pg` (the suite's PostgreSQL, shared by scenarios one at a time). */
export async function runScenario(
  scenario: Scenario,
  pg: PrivatePostgres,
  options: ScenarioOptions,
): Promise<ScenarioResult> {
  const started = performance.now();
  const timeline: string[] = [];
  const violations: string[] = [];
  const excused: [number, number][] = [];
  const event = (what: string) => {
    const line = `${((performance.now() - started) / 1000).toFixed(1)}s ${what}`;
    timeline.push(line);
    options.log?.(`${scenario.name}: ${line}`);
  };
  const system = await startSystem(
    {
      name: scenario.name,
      natsNodes: scenario.natsNodes,
      flags: [...(options.quick ? ["--ack-wait-ms=10000"] : []), ...(scenario.flags ?? [])],
    },
    pg,
    options,
  );
  try {
    event("system ready");
    await scenario.prepare?.(system);
    let faulting = true;
    const load = startLoad({
      url: system.url,
      messages: options.messages,
      concurrency: options.concurrency,
      prefix: `${scenario.name}${Date.now().toString(36)}`,
      maxMs: options.quick ? 90_000 : 300_000,
      keepGoing: () => faulting,
      poison: scenario.poison,
    });
    const ctx: FaultContext = {
      system,
      load,
      quick: options.quick,
      at: async (fraction) => {
        while (load.accepted() < fraction * options.messages && !load.ended()) {
          await new Promise((r) => setTimeout(r, 20));
        }
      },
      event,
      violation: (what) => violations.push(what),
      excuse: (from, to) => excused.push([from, to]),
    };
    try {
      await scenario.inject(ctx);
    } finally {
      faulting = false;
    }
    await load.done;
    event(`load done: ${load.stats.accepted.length} accepted, answers ${JSON.stringify(load.stats.answers)}`);
    const ids = load.stats.accepted.map((s) => s.id);
    let settleMs = await settle(system, ids, options.settleTimeoutMs);
    event(`settled in ${round(settleMs)} s`);
    if (scenario.afterSettle) {
      await scenario.afterSettle(ctx);
      const again = await settle(system, ids, options.settleTimeoutMs);
      settleMs += again;
      event(`settled again in ${round(again)} s`);
    }
    timeline.push(...system.notes.map((n) => `note: ${n}`));
    const verdict = await checkInvariant(
      system,
      load.stats.accepted,
      scenario.expected ?? (() => "completed"),
      excused,
    );
    violations.push(...verdict.violations);

    const answers = load.stats.answers;
    const fiveHundreds = Object.entries(answers).filter(([s]) => s.startsWith("5") && s !== "503");
    if (fiveHundreds.length > 0) violations.push(`5xx other than 503: ${JSON.stringify(fiveHundreds)}`);
    const other = Object.keys(answers).filter((s) => /^\d+$/.test(s) && !["202", "503"].includes(s));
    if (other.length > 0 && fiveHundreds.length === 0) {
      violations.push(`unexpected answers: ${other.join(", ")}`);
    }
    if (load.stats.unexpected.length > 0) timeline.push(...load.stats.unexpected.map((u) => `answer ${u}`));
    if (load.stats.noRetryAfter > 0) {
      violations.push(`${load.stats.noRetryAfter} answers 503 without Retry-After`);
    }
    if (scenario.expect503 && !answers["503"]) violations.push("the fault never got a 503");
    const errorLines = system.api.errorLines();
    if ((answers["503"] ?? 0) > 0 && errorLines > 10) {
      violations.push(
        `${errorLines} error-level API log lines for ${answers["503"]} answers 503 (a log flood)`,
      );
    }
    for (const c of system.crashes) {
      const why = c.log.split("\n").reverse().find((l) => l.includes('"level":"error"')) ?? "";
      violations.push(`${c.process} died (exit ${c.exit}): ${why.slice(0, 300)}`);
    }
    if (scenario.maxStallMs && verdict.stallBeyondFaultMs > scenario.maxStallMs) {
      violations.push(
        `longest stall ${round(verdict.stallBeyondFaultMs)} s beyond the time the fault excused ` +
          `(bound ${scenario.maxStallMs / 1000} s; ${round(verdict.longestStallMs)} s in all)`,
      );
    }
    if (scenario.maxSettleMs && settleMs > scenario.maxSettleMs) {
      violations.push(`settled in ${round(settleMs)} s (bound ${scenario.maxSettleMs / 1000} s)`);
    }
    return {
      scenario: scenario.name,
      fault: scenario.fault,
      accepted: ids.length,
      completed: verdict.completed,
      dlq: verdict.dlq,
      lost: verdict.lost,
      duplicated: verdict.duplicated,
      stuck: verdict.stuck,
      wrong: verdict.wrong,
      longest_stall_s: round(verdict.longestStallMs),
      stall_beyond_fault_s: round(verdict.stallBeyondFaultMs),
      settle_s: round(settleMs),
      longest_unavailable_s: round(load.stats.longestUnavailableMs),
      answers,
      api_error_lines: errorLines,
      crashes: system.crashes,
      timeline,
      violations,
      examples: verdict.examples,
    };
  } finally {
    // A fault that failed half-way may have left PostgreSQL stopped: the next scenario needs it.
    if (!await answers(pg)) await pg.resume();
    await system.close();
  }
}
