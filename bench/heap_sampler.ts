/**
 * What a Deno process's memory is made of, sampled while it runs: load it with `deno run --preload` (the bench
 * does so for its drains with `--worker-preload=bench/heap_sampler.ts`). Every 50 ms it takes
 * Deno.memoryUsage() and V8's heap spaces, and keeps each one's peak and the process's CPU time in
 * `$TMPDIR/heap-<pid>.json` (MB, ms), rewritten at every sample because the process is ended by a signal.
 */
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import v8 from "node:v8";

const peak: Record<string, number> = {};
const keep = (name: string, bytes: number) => peak[name] = Math.max(peak[name] ?? 0, bytes);
const file = join(tmpdir(), `heap-${process.pid}.json`);
const timer = setInterval(() => {
  for (const [name, bytes] of Object.entries(Deno.memoryUsage())) keep(name, bytes);
  for (const s of v8.getHeapSpaceStatistics()) keep(s.space_name, s.physical_space_size);
  const cpu = process.cpuUsage();
  const mb = Object.fromEntries(Object.entries(peak).map(([k, v]) => [k, Math.round(v / 1048576)]));
  writeFileSync(file, JSON.stringify({ cpu_ms: Math.round((cpu.user + cpu.system) / 1000), peak_mb: mb }));
}, 50);
Deno.unrefTimer(timer);
