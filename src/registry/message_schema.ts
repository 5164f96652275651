/**
 * The zod schema of an entity's values, built once from its fields: a message of a root or reference entity, or
 * the computed values of one derived instance. Unknown keys are dropped (a producer may send more than the
 * entity declares); declared fields must be present and typed. One object schema per entity, parsed once per
 * instance, is several times cheaper than a parse per field (zod compiles object schemas).
 */
import { z } from "zod";
import { fieldSchema } from "./field_types.ts";
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
