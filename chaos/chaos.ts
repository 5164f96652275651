/**
 * `deno task chaos [--scenario=<name>[,<name>]] [--quick] [--runtime=deno|bun] [--binary=./nomnom] [--messages=N]`
 *
 * Jepsen-style faults against nomnom run as an API and two workers (separate child processes), on the suite's
 * own nats-servers and its own PostgreSQL (initdb + pg_ctl), loopback only. Each scenario loads orders, injects
 * its fault, waits to settle and checks by id that every 202'd message ended completed or in the DLQ exactly
 * once (chaos/check.ts). Prints a table and writes the results to bench/results/, beside the bench's. Exits 1
 * if any scenario broke the invariant or its bounds. Stops by itself: every wait is bounded.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { NomnomRuntime } from "../bench/nomnom_command.ts";
import { runScenario, type ScenarioResult, suiteSettings } from "./run.ts";
import { SCENARIOS } from "./scenarios.ts";
import { startChaosPostgres } from "./services.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const quick = process.argv.includes("--quick");
const binary = flag("binary");
const runtime = (binary ? "binary" : flag("runtime") ?? "deno") as NomnomRuntime;
if (!["deno", "bun", "binary"].includes(runtime)) {
  console.error(`--runtime must be deno or bun (or give --binary=<path>), not "${runtime}"`);
  process.exit(2);
}
const settings = suiteSettings(quick);
const messages = Number(flag("messages") ?? settings.messages);
if (!Number.isInteger(messages) || messages < 100) {
  console.error(`--messages must be an integer of at least 100, not "${flag("messages")}"`);
  process.exit(2);
}
const names = flag("scenario")?.split(",");
const unknown = names?.filter((n) => !SCENARIOS.some((s) => s.name === n)) ?? [];
if (unknown.length > 0) {
  console.error(`unknown scenario ${unknown.join(", ")}; known: ${SCENARIOS.map((s) => s.name).join(", ")}`);
  process.exit(2);
}
const chosen = SCENARIOS.filter((s) => !names || names.includes(s.name));
const log = (line: string) => console.error(`[chaos] ${line}`);

const logDir = await mkdtemp(join(tmpdir(), "nomnom-chaos-logs-"));
log(`nomnom on ${binary ? `binary ${binary}` : runtime}, ${messages} messages a scenario; logs in ${logDir}`);
const pg = await startChaosPostgres();
const results: ScenarioResult[] = [];
const started = performance.now();
try {
  for (const scenario of chosen) {
    log(`${scenario.name}: ${scenario.fault}`);
    const result = await runScenario(scenario, pg, {
      runtime,
      binary,
      logDir,
      quick,
      ...settings,
      messages,
      log,
    }).catch((error): ScenarioResult => ({
      scenario: scenario.name,
      fault: scenario.fault,
      ...{ accepted: 0, completed: 0, dlq: 0, lost: 0, duplicated: 0, stuck: 0, wrong: 0 },
      longest_stall_s: 0,
      stall_beyond_fault_s: 0,
      settle_s: 0,
      longest_unavailable_s: 0,
      answers: {},
      api_error_lines: 0,
      crashes: [],
      timeline: [],
      violations: [`the scenario failed to run: ${error instanceof Error ? error.stack : error}`],
      examples: {},
    }));
    results.push(result);
    log(`${scenario.name}: ${result.violations.length === 0 ? "ok" : result.violations.join("; ")}`);
  }
} finally {
  await pg[Symbol.asyncDispose]();
}

const machine = `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 1024 ** 3)} GiB`;
const header = [
  "scenario",
  "accepted",
  "completed",
  "dlq",
  "lost",
  "duplicated",
  "stuck",
  "longest stall s",
  "settle s",
  "no 202 s",
  "503s",
  "verdict",
];
const table = [
  header,
  ...results.map((r) => [
    r.scenario,
    ...[
      r.accepted,
      r.completed,
      r.dlq,
      r.lost,
      r.duplicated,
      r.stuck,
      r.longest_stall_s,
      r.settle_s,
      r.longest_unavailable_s,
    ].map(
      String,
    ),
    String(r.answers["503"] ?? 0),
    r.violations.length === 0 ? "ok" : "FAIL",
  ]),
];
const widths = header.map((_, i) => Math.max(...table.map((row) => row[i].length)));
const seconds = Math.round((performance.now() - started) / 1000);
console.log(
  `nomnom chaos (${quick ? "quick" : "full"}, ${
    binary ? "bun binary" : runtime
  }) on ${machine}, ${seconds} s`,
);
for (const row of table) {
  console.log(row.map((cell, i) => i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])).join("  "));
}
for (const r of results.filter((r) => r.violations.length > 0)) {
  console.log(`\n${r.scenario}:\n  ${r.violations.join("\n  ")}`);
  for (const [kind, ids] of Object.entries(r.examples)) console.log(`  ${kind}: ${ids.join("; ")}`);
}
await mkdir(join(ROOT, "bench/results"), { recursive: true });
const file = join(
  ROOT,
  `bench/results/${new Date().toISOString().replace(/[:.]/g, "-")}-chaos-${quick ? "quick" : "full"}-${
    binary ? "bun-binary" : runtime
  }.json`,
);
await writeFile(
  file,
  JSON.stringify(
    { machine, quick, runtime: binary ? "bun binary" : runtime, messages, seconds, results },
    null,
    2,
  ) +
    "\n",
);
// The same table as Markdown beside the JSON, for the README and docs to point at.
const markdown = [
  `# nomnom chaos, ${quick ? "quick" : "full"} run on ${binary ? "the Bun binary" : runtime}`,
  "",
  `${new Date().toISOString()}, ${machine}, ${messages} messages a scenario, ${seconds} s in all. ` +
  "Stall and settle times come from a machine whose 2 cores are shared with other work: they show how a " +
  "fault is recovered from, not how fast an unloaded system is.",
  "",
  `| ${header.join(" | ")} |`,
  `| ${header.map((_, i) => i === 0 || i === header.length - 1 ? "---" : "---:").join(" | ")} |`,
  ...table.slice(1).map((row) => `| ${row.join(" | ")} |`),
  ...results.filter((r) => r.violations.length > 0).map((r) => `\n${r.scenario}: ${r.violations.join("; ")}`),
  "",
].join("\n");
await writeFile(file.replace(/\.json$/, ".md"), markdown);
console.log(`\nwritten to ${file} (and .md)`);
if (results.every((r) => r.violations.length === 0)) await rm(logDir, { recursive: true, force: true });
else console.log(`process logs kept in ${logDir}`);
process.exit(results.every((r) => r.violations.length === 0) ? 0 : 1);
