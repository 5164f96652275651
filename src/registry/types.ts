/**
 * The resolved entity model every role reads. Built once by `createRegistry()`, frozen, never mutated.
 */
import type { z } from "zod";
import type { FieldType } from "./field_types.ts";

export const TRANSFORMS = [
  "copy_field",
  "json_get_string",
  "json_get_int",
  "json_get_float",
  "json_get_optional_string",
  "json_get_optional_int",
  "json_get_optional_float",
  "constant_value",
  "coalesce",
] as const;
export type Transform = (typeof TRANSFORMS)[number];

/** Where a computed value comes from: the array element bound by `each_known_as`, or an ancestor's field. */
export type Source = { binding: string } | { entity: string; field: string };

export type Field = {
  name: string;
  type: FieldType;
  nullable: boolean;
  doc?: string;
  computedFrom?: { transform: Transform; sources: Source[]; args: Record<string, unknown> };
};

export type Column = { name: string; type: FieldType; nullable: boolean };

export type Storage = {
  table: string;
  idColumn: string;
  /** Stored columns from the entity's fields, in declaration order. */
  columns: Column[];
  /** Columns of the UNIQUE constraint and of ON CONFLICT: the natural key, or nomnom's synthetic one. */
  key: string[];
  /** True when `key` is the entity's own `unicity_fields`; false when rows are keyed by message id (+ index). */
  naturalKey: boolean;
};

export type Entity = {
  name: string;
  kind: "root" | "derived" | "reference";
  doc?: string;
  /** The YAML file it came from (for error messages). */
  file: string;
  fields: Field[];
  /** Derived entities: one instance per element of `parent.field`, bound to `as`. */
  repeatedFor?: { entity: string; field: string; as: string };
  /** Derived entities: the parent entity (for repeated ones, `repeatedFor.entity`). */
  parent?: string;
  storage?: Storage;
  /** Root of the message this entity's instances come from (itself for root and reference entities). */
  root: string;
  /** Derived entities whose parent is this one, in registry order. */
  children: string[];
  /** Validates a message of this entity (root, reference) or the computed values of an instance (derived). */
  messageSchema?: z.ZodType<Record<string, unknown>>;
  /** `messageSchema.safeParse()`, with a fast check in front of it (message_schema.ts createValueParser). */
  parseValues?: (input: Record<string, unknown>) => z.ZodSafeParseResult<Record<string, unknown>>;
  /** Derived entities: the check of an instance computed from validated fields (createInstanceCheck). */
  checkInstance?: (raw: Record<string, unknown>) => boolean;
};

/** The loaded, frozen set of entities. */
export type Registry = {
  /** Every non-abstract entity by name, in a stable order (files sorted by name, parents before children). */
  readonly entities: ReadonlyMap<string, Entity>;
  /** Entities accepted by the ingest API (root and reference). */
  readonly ingestible: readonly Entity[];
  /** Entities that have a table. */
  readonly stored: readonly Entity[];
};
