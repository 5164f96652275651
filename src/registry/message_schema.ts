/**
 * The zod schema of an entity's values, built once from its fields: a message of a root or reference entity, or
 * the computed values of one derived instance. Unknown keys are dropped (a producer may send more than the
 * entity declares); declared fields must be present and typed. One object schema per entity, parsed once per
 * instance, is several times cheaper than a parse per field (zod compiles object schemas).
 */
import { z } from "zod";
import { CHECKED_SOURCE_CHECKS, FAST_CHECKS, fieldSchema } from "./field_types.ts";
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

/**
 * For a derived instance whose values were all computed from fields that passed validation (derive.ts knows):
 * true when `raw` (the instance's computed values, one key per field in declaration order) is certainly valid,
 * and then `raw` is made what zod's data plus derive's defaults would be, in place: a missing nullable field
 * null, a list field's array copied. False: not sure, and `raw` is unchanged (createValueParser decides, zod
 * explains). Strings and JSON inside such values were already found storable in the message they came from
 * (CHECKED_SOURCE_CHECKS); a `constant_value` comes from the entity file, not the message, so it is checked in
 * full. One object less per instance than createValueParser, which builds zod's result.
 */
export function createInstanceCheck(entity: Entity): (raw: Record<string, unknown>) => boolean {
  const fields = entity.fields.map((f) => ({
    name: f.name,
    nullable: f.nullable,
    check: f.computedFrom?.transform === "constant_value"
      ? FAST_CHECKS[f.type]
      : CHECKED_SOURCE_CHECKS[f.type],
    copy: f.type === "list_object" || f.type === "list_string",
  }));
  if (!fields.every((f) => !(f.name in Object.prototype))) return () => false; // as createValueParser
  const patched = fields.filter((f) => f.nullable || f.copy);
  return (raw) => {
    for (const f of fields) {
      const v = raw[f.name];
      if (!(f.nullable && (v === null || v === undefined)) && !f.check(v)) return false;
    }
    for (const f of patched) {
      const v = raw[f.name];
      if (v === null || v === undefined) raw[f.name] = null;
      else if (f.copy) raw[f.name] = (v as unknown[]).slice();
    }
    return true;
  };
}
