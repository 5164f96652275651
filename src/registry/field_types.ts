/**
 * The field types of the entity format: how each is named in YAML, validated in a message (zod), stored
 * (PostgreSQL type) and passed to the database (text, cast back in SQL so that one statement text serves every
 * batch size).
 */
import { z } from "zod";
import { suggest } from "../suggest.ts";

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

/** How each type is written in YAML (its first alias), for messages that list the valid types. */
export const FIELD_TYPE_NAMES: readonly string[] = FIELD_TYPES.map((type) =>
  Object.keys(ALIASES).find((alias) => ALIASES[alias] === type)!
);

/** `unknown type "uuidv9"; valid types: string, integer, …`, with the closest name when one is close. */
export function describeUnknownType(name: string): string {
  const hint = suggest(name.toLowerCase().replace(/\s+/g, ""), Object.keys(ALIASES), "");
  return `unknown type "${name}"${hint}${hint ? "" : ";"} valid types: ${FIELD_TYPE_NAMES.join(", ")}`;
}

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

/**
 * What each column type can hold (PostgreSQL manual, "Numeric Types", "Date/Time Types", "Character Types",
 * "JSON Types"). A value outside is refused at the edge with a 422 naming the field: accepted, it could only
 * fail in the worker's transaction (SQLSTATE 22003, 22008, 22021, 22P05) and end in the dead-letter queue.
 */
export const COLUMN_LIMITS = {
  /** integer: 32-bit. */
  integer: { min: -(2 ** 31), max: 2 ** 31 - 1 },
  /** bigint: 64-bit. */
  bigint: { min: -(2n ** 63n), max: 2n ** 63n - 1n },
  /** numeric: digits before and after the decimal point; an exponent of ±(INT_MAX / 2) or beyond overflows. */
  numeric: { integerDigits: 131_072, fractionDigits: 16_383, exponent: 2 ** 30 - 2 },
  /**
   * date and timestamptz: years 4713 BC to 5874897 / 294276 AD, but there is no year 0, and ISO 8601 as
   * accepted here has four-digit years: 0001 to 9999. A time zone displacement up to ±15:59.
   */
  datetime: { firstYear: 1, maxOffsetMinutes: 15 * 60 + 59 },
} as const;

const DATE = /^(\d{4})-\d{2}-\d{2}$/;

/** A real calendar day PostgreSQL can store (2025-02-30 is not, nor any day of year 0000). */
const validDate = (s: string) => {
  const m = DATE.exec(s);
  if (!m || Number(m[1]) < COLUMN_LIMITS.datetime.firstYear) return false;
  const d = new Date(s + "T00:00:00Z");
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
};

/** A date-time (already ISO 8601 by zod) in a year from 0001 and with an offset PostgreSQL takes. */
const storableDatetime = (s: string) => {
  if (Number(s.slice(0, 4)) < COLUMN_LIMITS.datetime.firstYear) return false;
  const offset = /([+-])(\d{2}):(\d{2})$/.exec(s);
  return !offset || Number(offset[2]) * 60 + Number(offset[3]) <= COLUMN_LIMITS.datetime.maxOffsetMinutes;
};

/** A numeric string PostgreSQL's numeric can hold (syntax already checked): digits each side, exponent. */
const storableNumeric = (s: string) => {
  const m = /^-?(\d+)(?:\.(\d+))?(?:[eE]([-+]?\d+))?$/.exec(s);
  if (!m) return true; // not a numeric string: the pattern check says so
  const [, int, frac = "", exp = "0"] = m;
  if (Math.abs(Number(exp)) > COLUMN_LIMITS.numeric.exponent) return false;
  const e = Number(exp);
  if (frac.length - e > COLUMN_LIMITS.numeric.fractionDigits) return false;
  const digits = int + frac;
  const first = digits.search(/[1-9]/);
  // Zero has no digits before the point however large its exponent.
  return first === -1 || int.length + e - first <= COLUMN_LIMITS.numeric.integerDigits;
};

/** A string PostgreSQL text (UTF-8) stores unchanged: no NUL, no lone surrogate (it would become U+FFFD). */
const storableText = (s: string) => !s.includes("\u0000") && s.isWellFormed();

/**
 * A JSON value jsonb stores unchanged: every string and key storable text (jsonb refuses \u0000, 22P05, and a
 * lone surrogate), every number finite (JSON.parse makes 1e400 Infinity, which JSON.stringify writes as null).
 */
function storableJson(v: unknown): boolean {
  if (typeof v === "string") return storableText(v);
  if (typeof v === "number") return Number.isFinite(v);
  if (typeof v !== "object" || v === null) return true;
  if (Array.isArray(v)) return v.every(storableJson);
  for (const key in v) {
    if (!storableText(key) || !storableJson((v as Record<string, unknown>)[key])) return false;
  }
  return true;
}
const JSON_STORABLE =
  "must hold no NUL character, lone surrogate or number out of range (jsonb cannot store them)";

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

const DATETIME = z.iso.datetime({ offset: true, local: true, ...expect("an ISO 8601 date-time") });

const BASE_SCHEMAS: Record<FieldType, z.ZodType> = {
  string: z.string(expect("a string")).refine(
    storableText,
    "must not contain NUL characters or lone surrogates (PostgreSQL text cannot store them)",
  ),
  integer: z.number(expect("an integer")).int("must be an integer")
    .min(COLUMN_LIMITS.integer.min, "is too small for a 32-bit Integer")
    .max(COLUMN_LIMITS.integer.max, "is too large for a 32-bit Integer"),
  bigint: z.union([
    z.number().int().refine(Number.isSafeInteger, "must be a safe integer; send larger values as a string"),
    z.string().regex(/^-?\d{1,19}$/, "must be an integer or a string of digits").refine(
      // zod runs this even when the pattern failed: only digits reach BigInt().
      (v) =>
        !/^-?\d+$/.test(v) ||
        (BigInt(v) >= COLUMN_LIMITS.bigint.min && BigInt(v) <= COLUMN_LIMITS.bigint.max),
      "is out of range for a 64-bit bigint",
    ),
  ], expect("an integer or a string of digits")),
  // JSON.parse turns 1e400 into Infinity, which z.number() refuses: double precision holds every finite number.
  float: z.number(expect("a finite number")),
  // A JavaScript number always fits numeric; a string may not.
  decimal: z.union([
    z.number(),
    z.string().regex(/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/, "must be a number or a numeric string").refine(
      storableNumeric,
      `is out of range for numeric (at most ${COLUMN_LIMITS.numeric.integerDigits} digits before the ` +
        `decimal point and ${COLUMN_LIMITS.numeric.fractionDigits} after)`,
    ),
  ], expect("a number or a numeric string")),
  boolean: z.boolean(expect("true or false")),
  date: z.string(expect("a date YYYY-MM-DD")).refine(validDate, "must be a date YYYY-MM-DD from year 0001"),
  datetime: DATETIME.refine(
    storableDatetime,
    "must be a date-time from year 0001, with a UTC offset of at most ±15:59",
  ),
  // Messages come from JSON.parse, so nested values are JSON by construction: checking them again (z.json(), a
  // recursive union) cost more than everything else in a message's validation.
  json: z.unknown().refine((v) => v !== undefined, "is required").refine(storableJson, JSON_STORABLE),
  // A plain-object check, not z.record(): a record runs a schema on every key and value (8 µs for an order's
  // line items), and the derived entity that reads the elements validates their fields anyway.
  object: plainObject().refine(storableJson, JSON_STORABLE),
  list_object: z.array(plainObject(), expect("a list of objects")).refine(storableJson, JSON_STORABLE),
  list_string: z.array(z.string(), expect("a list of strings")).refine(storableJson, JSON_STORABLE),
};

const NULLISH_SCHEMAS = Object.fromEntries(
  Object.entries(BASE_SCHEMAS).map(([type, schema]) => [type, schema.nullish()]),
) as unknown as Record<FieldType, z.ZodType>;

/** zod's own pattern for the datetime format (zod checks a format by this regex alone). */
const DATETIME_PATTERN: RegExp = DATETIME._zod.def.pattern!;

const isPlainObject = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The rules of BASE_SCHEMAS again, as plain predicates: true only for a value its schema certainly accepts and
 * returns unchanged (list types excepted: zod returns a copy of the array, see createValueParser). A value
 * refused here goes through zod, whose issue becomes the error message, so a predicate may be stricter than its
 * schema but never looser. Each must agree with the schema above it; src/registry/message_schema_test.ts
 * compares the two over generated values.
 */
export const FAST_CHECKS: Record<FieldType, (v: unknown) => boolean> = {
  string: (v) => typeof v === "string" && storableText(v),
  integer: (v) =>
    typeof v === "number" && Number.isInteger(v) && v >= COLUMN_LIMITS.integer.min &&
    v <= COLUMN_LIMITS.integer.max,
  bigint: (v) =>
    typeof v === "number" ? Number.isSafeInteger(v) : typeof v === "string" && /^-?\d{1,19}$/.test(v) &&
      (v.length < 19 || (BigInt(v) >= COLUMN_LIMITS.bigint.min && BigInt(v) <= COLUMN_LIMITS.bigint.max)),
  float: (v) => typeof v === "number" && Number.isFinite(v),
  decimal: (v) =>
    typeof v === "number"
      ? Number.isFinite(v)
      : typeof v === "string" && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v) && storableNumeric(v),
  boolean: (v) => typeof v === "boolean",
  date: (v) => typeof v === "string" && validDate(v),
  datetime: (v) => {
    if (typeof v !== "string") return false;
    DATETIME_PATTERN.lastIndex = 0;
    return DATETIME_PATTERN.test(v) && storableDatetime(v);
  },
  json: (v) => v !== undefined && storableJson(v),
  object: (v) => isPlainObject(v) && storableJson(v),
  list_object: (v) => isListOf(v, isPlainObject) && storableJson(v),
  list_string: (v) => isListOf(v, isString) && storableJson(v),
};

const isString = (v: unknown) => typeof v === "string";
/** An array whose every element passes `check` (no every(): it skips holes, zod does not). */
const isListOf = (v: unknown, check: (e: unknown) => boolean) => {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (!check(v[i])) return false;
  return true;
};

/**
 * FAST_CHECKS for a value read out of a message that has passed its own checks: a derived instance's field
 * computed from validated fields (src/registry/derive.ts). Every string and JSON value in such a message was
 * already found storable (no NUL, no lone surrogate, no infinite number), so that is not checked a second time
 * for each child: the string and JSON types check their shape only, every other type as FAST_CHECKS does.
 */
export const CHECKED_SOURCE_CHECKS: Record<FieldType, (v: unknown) => boolean> = {
  ...FAST_CHECKS,
  string: isString,
  json: (v) => v !== undefined,
  object: isPlainObject,
  list_object: (v) => isListOf(v, isPlainObject),
  list_string: (v) => isListOf(v, isString),
};

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
