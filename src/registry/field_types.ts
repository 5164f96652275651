/**
 * The field types of the entity format: how each is named in YAML, validated in a message (zod), stored
 * (PostgreSQL type) and passed to the database (text, cast back in SQL so that one statement text serves every
 * batch size).
 */
import { z } from "zod";

export const FIELD_TYPES = [
  "string",
  "integer",
  "bigint",
  "float",
  "decimal",
  "boolean",
  "date",
  "datetime",
  "json",
  "object",
  "list_object",
  "list_string",
] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

const ALIASES: Record<string, FieldType> = {
  string: "string",
  str: "string",
  text: "string",
  integer: "integer",
  int: "integer",
  i32: "integer",
  bigint: "bigint",
  i64: "bigint",
  float: "float",
  f64: "float",
  double: "float",
  decimal: "decimal",
  boolean: "boolean",
  bool: "boolean",
  date: "date",
  naivedate: "date",
  datetime: "datetime",
  naivedatetime: "datetime",
  timestamp: "datetime",
  json: "json",
  object: "object",
  "list[object]": "list_object",
  "list[string]": "list_string",
};

/** Resolve a YAML type name (case-insensitive, aliases allowed); undefined when unknown. */
export function parseFieldType(name: string): FieldType | undefined {
  return ALIASES[name.toLowerCase().replace(/\s+/g, "")];
}

/** Types stored as a column when an entity has no `field_overrides`. */
export function isScalar(type: FieldType): boolean {
  return !["object", "list_object", "list_string"].includes(type);
}

export const PG_TYPES: Record<FieldType, string> = {
  string: "text",
  integer: "integer",
  bigint: "bigint",
  float: "double precision",
  decimal: "numeric",
  boolean: "boolean",
  date: "date",
  datetime: "timestamptz",
  json: "jsonb",
  object: "jsonb",
  list_object: "jsonb",
  list_string: "jsonb",
};

const INT32 = 2 ** 31;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** A real calendar day (2025-02-30 is not; PostgreSQL would reject it at write time). */
const validDate = (s: string) => {
  if (!DATE.test(s)) return false;
  const d = new Date(s + "T00:00:00Z");
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
};

/** Error messages a client can act on: "is required" for a missing field, "must be ..." otherwise. */
const expect = (what: string) => ({
  error: (issue: { input?: unknown }) => issue.input === undefined ? "is required" : `must be ${what}`,
});

function plainObject() {
  return z.custom<Record<string, unknown>>(
    (v) => typeof v === "object" && v !== null && !Array.isArray(v),
    expect("an object"),
  ).meta({ type: "object" }); // what OpenAPI shows: a custom check has no JSON Schema of its own
}

const BASE_SCHEMAS: Record<FieldType, z.ZodType> = {
  string: z.string(expect("a string")).refine(
    (v) => !v.includes("\u0000"),
    "must not contain NUL characters",
  ),
  integer: z.number(expect("an integer")).int("must be an integer")
    .min(-INT32, "is too small for a 32-bit Integer").max(INT32 - 1, "is too large for a 32-bit Integer"),
  bigint: z.union([
    z.number().int().refine(Number.isSafeInteger, "must be a safe integer; send larger values as a string"),
    z.string().regex(/^-?\d{1,18}$/, "must be an integer or a string of digits"),
  ], expect("an integer or a string of digits")),
  float: z.number(expect("a number")),
  decimal: z.union([
    z.number(),
    z.string().regex(/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/, "must be a number or a numeric string"),
  ], expect("a number or a numeric string")),
  boolean: z.boolean(expect("true or false")),
  date: z.string(expect("a date YYYY-MM-DD")).refine(validDate, "must be a date YYYY-MM-DD"),
  datetime: z.iso.datetime({ offset: true, local: true, ...expect("an ISO 8601 date-time") }),
  // Messages come from JSON.parse, so nested values are JSON by construction: checking them again (z.json(), a
  // recursive union) cost more than everything else in a message's validation.
  json: z.unknown().refine((v) => v !== undefined, "is required"),
  // A plain-object check, not z.record(): a record runs a schema on every key and value (8 µs for an order's
  // line items), and the derived entity that reads the elements validates their fields anyway.
  object: plainObject(),
  list_object: z.array(plainObject(), expect("a list of objects")),
  list_string: z.array(z.string(), expect("a list of strings")),
};

const NULLISH_SCHEMAS = Object.fromEntries(
  Object.entries(BASE_SCHEMAS).map(([type, schema]) => [type, schema.nullish()]),
) as unknown as Record<FieldType, z.ZodType>;

/** The zod schema of one field in a message, honouring nullability (nullable ⇒ missing or null allowed). */
export function fieldSchema(type: FieldType, nullable: boolean): z.ZodType {
  return nullable ? NULLISH_SCHEMAS[type] : BASE_SCHEMAS[type];
}

/** Encode a validated value as the text PostgreSQL casts back to the column type; null stays null. */
export function toSqlText(type: FieldType, value: unknown): string | null {
  if (value === null || value === undefined) return null;
  switch (type) {
    case "json":
    case "object":
    case "list_object":
    case "list_string":
      return JSON.stringify(value);
    case "string":
      return value as string;
    default:
      return String(value);
  }
}
