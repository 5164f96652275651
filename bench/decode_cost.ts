/**
 * `decodeMessage()` alone: CPU time per TPC-H order (500 orders of bench/orders.ts, 1–7 line items each),
 * median of 7 rounds of 40 passes after a warm-up. CPU time (`process.cpuUsage()`), which other processes on a
 * shared machine inflate less than wall time; compare two versions in alternating runs.
 *
 *   deno run -A bench/decode_cost.ts
 */
import process from "node:process";
import { decodeMessage } from "../src/registry/derive.ts";
import { loadRegistry } from "../src/registry/load.ts";
import { generateOrders } from "./orders.ts";

const registry = await loadRegistry(
  new URL("../tests/fixtures/nomnom-tpch/entities", import.meta.url).pathname,
);
const order = registry.entities.get("Order")!;
const parsed = generateOrders(500, 3).map((o) => JSON.parse(JSON.stringify(o)));
const pass = () => {
  for (const body of parsed) decodeMessage(registry, order, body);
};
for (let i = 0; i < 100; i++) pass();
const rounds: number[] = [];
for (let r = 0; r < 7; r++) {
  const cpu = process.cpuUsage();
  for (let i = 0; i < 40; i++) pass();
  const used = process.cpuUsage(cpu);
  rounds.push((used.user + used.system) / (40 * parsed.length));
}
rounds.sort((a, b) => a - b);
console.log(
  `decodeMessage: ${rounds[3].toFixed(1)} µs CPU per order (median; rounds ${
    rounds.map((x) => x.toFixed(1)).join(" ")
  })`,
);
