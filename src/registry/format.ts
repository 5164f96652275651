/**
 * The schema of an entity YAML file (shared format, compatible with the original nomnom's files).
 * Objects are strict: an unknown key is an error naming the key, so a typo is never silently ignored.
 */
import { z } from "zod";

const name = z.string().min(1);

const SourceSchema = z.union([
  name,
  z.strictObject({ source: name, field: name }),
]);

const ComputedFromSchema = z.strictObject({
  transform: name,
  sources: z.array(SourceSchema).default([]),
  args: z.record(z.string(), z.unknown()).default({}),
});

const FieldSchema = z.strictObject({
  name,
  type: z.string().default("String"),
  nullable: z.boolean().default(false),
  doc: z.string().optional(),
  computed_from: ComputedFromSchema.optional(),
});

const OverrideSchema = z.strictObject({
  name,
  type: z.string().optional(),
  nullable: z.boolean().optional(),
  doc: z.string().optional(),
});

const PersistenceSchema = z.strictObject({
  database: z.strictObject({
    conformant_table: name.optional(),
    conformant_id_column: name.optional(),
    unicity_fields: z.array(name).optional(),
  }).default({}),
  primary_key: z.strictObject({
    name: name.optional(),
    type: z.string().optional(),
    autogenerate: z.boolean().optional(),
  }).optional(),
  field_overrides: z.array(OverrideSchema).optional(),
});

const EntitySchema = z.strictObject({
  name: z.string().regex(/^[A-Z][A-Za-z0-9]*$/, "must be PascalCase, e.g. OrderLineItem"),
  source_type: z.enum(["root", "derived", "reference"]).optional(),
  type: z.enum(["root", "derived", "reference"]).optional(),
  doc: z.string().optional(),
  prefix: z.string().optional(),
  abstract: z.boolean().default(false),
  fields: z.array(FieldSchema).default([]),
  repeated_for: z.strictObject({ entity: name, field: name, each_known_as: name }).optional(),
  parent: name.optional(),
  persistence: PersistenceSchema.nullish(),
});

/** The whole file: one entity under the top-level `entity:` key. */
export const EntityFileSchema = z.strictObject({ entity: EntitySchema });

export type EntityFile = z.output<typeof EntityFileSchema>;
export type EntityDecl = EntityFile["entity"];
export type FieldDecl = EntityDecl["fields"][number];
export type SourceDecl = z.output<typeof SourceSchema>;
