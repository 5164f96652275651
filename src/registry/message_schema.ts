/**
 * The zod schema of a message of a root or reference entity, built once from its fields. Unknown keys are
 * dropped (a producer may send more than the entity declares); declared fields must be present and typed.
 */
import { z } from "zod";
import { fieldSchema } from "./field_types.ts";
import type { Entity } from "./types.ts";

/** Build the message schema of `entity` (pure). */
export function createMessageSchema(entity: Entity): z.ZodType<Record<string, unknown>> {
  const shape: Record<string, z.ZodType> = {};
  for (const field of entity.fields) {
    const schema = fieldSchema(field.type, field.nullable);
    shape[field.name] = field.doc ? schema.describe(field.doc) : schema;
  }
  const object = z.object(shape);
  return (entity.doc ? object.describe(entity.doc) : object) as unknown as z.ZodType<Record<string, unknown>>;
}
