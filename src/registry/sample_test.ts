import assert from "node:assert/strict";
import { decodeMessage } from "./derive.ts";
import { loadRegistry } from "./load.ts";
import { createSampleMessage } from "./sample.ts";

for (const dir of ["../../entities", "../../tests/fixtures/nomnom-tpch/entities"]) {
  Deno.test(`createSampleMessage() makes a valid message of every ingestible entity of ${dir.slice(6)}`, async () => {
    const registry = await loadRegistry(new URL(dir, import.meta.url).pathname);
    for (const entity of registry.ingestible) {
      const decoded = decodeMessage(registry, entity, createSampleMessage(registry, entity));
      for (const child of entity.children) assert.equal(decoded.derived.get(child)!.length, 1, child);
    }
  });
}
