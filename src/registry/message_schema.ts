/**
 * The zod schema of an entity's values, built once from its fields: a message of a root or reference entity, or
 * the computed values of one derived instance. Unknown keys are dropped (a producer may send more than the
 * entity declares); declared fields must be present and typed. One object schema per entity, parsed once per
 * instance, is several times cheaper than a parse per field (zod compiles object schemas).
 */
import { z } from "zod";
import { FAST_CHECKS, fieldSchema } from "./field_types.ts";
import type { Entity } from "./types.ts";

/** Build the schema of `entity`'s values (pure). */
export function createMessageSchema(entity: Entity): z.ZodType<Record<string, unknown>> {
  const shape: Record<string, z.ZodType> = {};
  for (const field of entity.fields) {
    const schema = fieldSchema(field.type, field.nullable);
    shape[field.name] = field.doc ? schema.describe(field.doc) : schema;
  }
  const object = z.object(shape);
  return (entity.doc ? object.describe(entity.doc) : object) as unknown as z.ZodType<Record<string, unknown>>;
}

/** What `schema.safeParse()` returns for an entity's values. */
export type ValuesResult = z.ZodSafeParseResult<Record<string, unknown>>;

/**
 * `schema.safeParse()` for `entity`'s values, with a plain-JavaScript check in front ("check fast, explain with
 * zod"): zod took a third of the worker's CPU and over a quarter of a POST. The check answers "certainly valid,
 * here is what zod would return" or "not sure", and on "not sure" zod runs unchanged, so every error message is
 * zod's. Its result is built as zod builds it: declared keys in declaration order, unknown keys dropped, a
 * missing nullable field left out, a list field's array copied.
 */
export function createValueParser(
  entity: Entity,
  schema: z.ZodType<Record<string, unknown>>,
): (input: Record<string, unknown>) => ValuesResult {
  const fields = entity.fields.map((f) => ({
    name: f.name,
    nullable: f.nullable,
    check: FAST_CHECKS[f.type],
    copy: f.type === "list_object" || f.type === "list_string",
  }));
  // A field named like an Object.prototype member ("constructor", "__proto__") reads or writes the prototype:
  // too subtle to mirror, so such an entity always goes through zod.
  const safe = fields.every((f) => !(f.name in Object.prototype));
  const slow = (input: Record<string, unknown>) => schema.safeParse(input);
  if (!safe) return slow;
  return (input) => {
    const data: Record<string, unknown> = {};
    for (const f of fields) {
      const v = input[f.name];
      if (f.nullable && (v === null || v === undefined)) {
        if (f.name in input) data[f.name] = v;
      } else if (f.check(v)) data[f.name] = f.copy ? (v as unknown[]).slice() : v;
      else return slow(input);
    }
    return { success: true, data } as ValuesResult;
  };
}
