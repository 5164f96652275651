/**
 * A valid example message of an entity, made from its declaration (pure): what the demo's copy-paste curl
 * posts. Derived entities repeated over an array contribute one element with the keys they read.
 */
import type { FieldType } from "./field_types.ts";
import type { Entity, Registry } from "./types.ts";

const SAMPLES: Record<FieldType, (name: string) => unknown> = {
  string: (name) => `${name}-1`,
  integer: () => 1,
  bigint: () => 1,
  float: () => 1.5,
  decimal: () => "9.99",
  boolean: () => true,
  date: () => "2026-11-23",
  datetime: () => "2026-11-23T10:15:00Z",
  json: () => ({}),
  object: () => ({}),
  list_object: () => [],
  list_string: () => [],
};

/** An example message of `entity` that passes its validation (and its children's). */
export function createSampleMessage(registry: Registry, entity: Entity): Record<string, unknown> {
  const message: Record<string, unknown> = {};
  for (const field of entity.fields) message[field.name] = SAMPLES[field.type](field.name);
  for (const childName of entity.children) {
    const child = registry.entities.get(childName)!;
    if (!child.repeatedFor) continue;
    const element: Record<string, unknown> = {};
    for (const field of child.fields) {
      const cf = field.computedFrom;
      if (cf && "entity" in (cf.sources[0] ?? {})) continue; // copied from an ancestor, not read from the element
      const key = typeof cf?.args.field === "string" ? cf.args.field : field.name;
      if (cf?.transform === "constant_value") continue;
      element[key] = SAMPLES[field.type](key);
    }
    message[child.repeatedFor.field] = [element];
  }
  return message;
}
