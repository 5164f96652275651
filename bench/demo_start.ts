/**
 * `deno run -A bench/demo_start.ts <rounds> <deno|bun|binary> NAME=PATH...`: the embedded demo's first start
 * and restart (start → first 200 from /ready, a fresh data dir each round) of several checkouts (PATH is a
 * worktree with node_modules, or a binary for `binary`), alternated in each round (A B, then B A, ...), so that
 * a shared machine's load falls on all alike. Reports p50 and every value, and the process's CPU time
 * (user + system of /proc/<pid>/stat at ready), which others' load inflates far less than the wall time.
 * Phase E of bench.ts measures one checkout; this compares two, e.g. main's worktree and a branch's.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

const [roundsArg, runtime, ...named] = process.argv.slice(2);
const variants = named.map((v) => ({ name: v.split("=")[0], path: v.split("=").slice(1).join("=") }));
if (!Number(roundsArg) || !["deno", "bun", "binary"].includes(runtime) || variants.length === 0) {
  console.error("usage: deno run -A bench/demo_start.ts <rounds> <deno|bun|binary> NAME=PATH...");
  process.exit(2);
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** CPU time a process has used, in ms (utime + stime, clock ticks of 1/100 s). */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) * 10;
}

function command(path: string): [string, string[]] {
  if (runtime === "deno") return [join(path, "node_modules/.bin/deno"), ["run", "-A", join(path, "main.ts")]];
  if (runtime === "bun") return [join(path, "node_modules/.bin/bun"), ["run", join(path, "main.ts")]];
  return [path, []];
}

/** One start on `dataDir`: ms to the first 200 from /ready, and the CPU the process had used by then. */
async function start(path: string, dataDir: string): Promise<{ ms: number; cpu: number }> {
  const port = await freePort();
  const [bin, pre] = command(path);
  const started = performance.now();
  const child = spawn(
    bin,
    [...pre, "--role=all", `--port=${port}`, `--ops-port=${await freePort()}`, `--data-dir=${dataDir}`],
    {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, NATS_URL: "", DATABASE_URL: "", NOMNOM_SHUTDOWN_DRAIN_MS: "0" },
      cwd: runtime === "binary" ? tmpdir() : path,
    },
  );
  let stderr = "";
  child.stderr!.on("data", (chunk) => stderr += chunk);
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/ready`).then(
      async (r) => (await r.body?.cancel(), r.ok),
      () => false,
    );
    if (ok) break;
    if (child.exitCode !== null) throw new Error(`${bin} exited: ${stderr.slice(-2000)}`);
    if (performance.now() - started > 120_000) throw new Error(`${bin} was not ready within 120 s`);
    await new Promise((r) => setTimeout(r, 5));
  }
  const ms = Math.round(performance.now() - started);
  const cpu = await cpuMs(child.pid!);
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
  return { ms, cpu };
}

type Series = { first: number[]; restart: number[]; firstCpu: number[]; restartCpu: number[] };
const results = new Map<string, Series>(
  variants.map((v) => [v.name, { first: [], restart: [], firstCpu: [], restartCpu: [] }]),
);
const loads: number[] = [];
for (let round = 0; round < Number(roundsArg); round++) {
  for (const v of round % 2 ? [...variants].reverse() : variants) {
    const dataDir = await mkdtemp(join(tmpdir(), "nomnom-demo-start-"));
    try {
      const first = await start(v.path, dataDir);
      const restart = await start(v.path, dataDir);
      const r = results.get(v.name)!;
      r.first.push(first.ms),
        r.firstCpu.push(first.cpu),
        r.restart.push(restart.ms),
        r.restartCpu.push(restart.cpu);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
    loads.push(loadavg()[0]);
  }
}

const p50 = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : Math.round((s[s.length / 2 - 1] + s[s.length / 2]) / 2);
};
console.log(
  `${runtime}, ${roundsArg} rounds, load average ${Math.min(...loads).toFixed(1)}–${
    Math.max(...loads).toFixed(1)
  }`,
);
for (const [name, r] of results) {
  console.log(
    `${name}: first start p50 ${p50(r.first)} ms [${r.first.join(" ")}], CPU ${p50(r.firstCpu)} ms [${
      r.firstCpu.join(" ")
    }]`,
  );
  console.log(
    `${name}: restart     p50 ${p50(r.restart)} ms [${r.restart.join(" ")}], CPU ${p50(r.restartCpu)} ms [${
      r.restartCpu.join(" ")
    }]`,
  );
}
