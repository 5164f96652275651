/** `nomnom validate`: load the entities and print what they define, or every problem (exit 1). */
import type { Config } from "../config.ts";
import { PG_TYPES } from "../registry/field_types.ts";
import type { Registry } from "../registry/types.ts";
import { createTopology } from "../stream/topology.ts";
import { defineCommand, loadEntities } from "./command.ts";

/** The `validate` command. */
export const validateCommand = defineCommand({
  name: "validate",
  usage: "validate",
  summary: "load the entities; print entities, tables, keys and subjects, or every problem (exit 1)",
  description: "Every problem is named with its file, entity and key; nothing is connected to or created.",
  settings: ["entities", "namespace"],
  async run({ config, out }) {
    return printRegistry(await loadEntities(config.entitiesDir), config, out);
  },
});

/** What the entities define (the registry already loaded, so they are valid). */
export function printRegistry(registry: Registry, config: Config, out: (line: string) => void): number {
  const topology = createTopology(config, registry);
  out(`${registry.entities.size} entities from ${config.entitiesDir}:`);
  for (const e of registry.entities.values()) {
    const from = e.repeatedFor
      ? ` — one per ${e.repeatedFor.entity}.${e.repeatedFor.field}[]`
      : e.parent
      ? ` — one per ${e.parent}`
      : "";
    out(`  ${e.name} (${e.kind}${from})`);
    if (e.storage) {
      const s = e.storage;
      out(`    table ${s.table}: ${s.columns.map((c) => `${c.name} ${PG_TYPES[c.type]}`).join(", ")}`);
      out(
        `    unique key (${s.key.join(", ")})${s.naturalKey ? "" : " — no unicity_fields: keyed by message"}`,
      );
    } else out(`    not stored (no persistence)`);
    if (e.kind !== "derived") out(`    subject ${topology.ingestSubject(e.name, "<message id>")}`);
  }
  return 0;
}
