import assert from "node:assert/strict";
import { createLogger } from "../log.ts";
import { createOutageLog } from "./outage_log.ts";

Deno.test("createOutageLog() warns once when a dependency goes away and says once, with a count, when it is back", async () => {
  const lines: Record<string, unknown>[] = [];
  const outages = createOutageLog(createLogger("debug", {}, (line) => lines.push(JSON.parse(line))), 30);
  const error = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  for (let i = 0; i < 100; i++) outages.refused("PostgreSQL", error);
  outages.refused("NATS", new Error("timeout"));
  assert.deepEqual(lines.map((l) => [l.level, l.dependency]), [["warn", "PostgreSQL"], ["warn", "NATS"]]);
  assert.deepEqual(lines[0].error, { name: "Error", message: "connect ECONNREFUSED" });
  while (lines.length < 4) await new Promise((r) => setTimeout(r, 10));
  const over = lines.slice(2).find((l) => l.dependency === "PostgreSQL")!;
  assert.equal(over.level, "info");
  assert.equal(over.refused_requests, 100);
  // A new outage after the end is reported again.
  outages.refused("PostgreSQL", error);
  assert.equal(lines.length, 5);
  assert.equal(lines[4].level, "warn");
});
