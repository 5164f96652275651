/**
 * The identity of a row's key as PostgreSQL sees it (pure). A message may spell one key value several ways that
 * the column type makes equal: bigint `5` and `"5"`, numeric `"1.50"` and `1.5`, timestamptz
 * `2025-01-01T12:00:00+02:00` and `2025-01-01T10:00:00Z`. Comparing raw JSON treated those as two keys, so two rows
 * of one upsert hit the same unique key and PostgreSQL failed the whole statement with 21000 ("ON CONFLICT DO
 * UPDATE command cannot affect row a second time"). Every comparison of keys (duplicate check, in-batch dedup, a
 * child's `_root_key`) goes through `createKeyOf()`.
 */
import type { FieldType } from "./field_types.ts";
import type { Entity } from "./types.ts";

/** The value of one key column in a form equal exactly when PostgreSQL's comparison of the column says equal. */
export function canonicalKeyValue(type: FieldType | undefined, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (type) {
    case "bigint": {
      if (!Number.isInteger(value) && !(typeof value === "string" && /^-?\d+$/.test(value))) return value;
      const n = BigInt(value as string | number);
      // Numbers stay numbers (the common case keeps the form it always had); only digits beyond 2^53 stay text.
      return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(n)
        : String(n);
    }
    case "decimal":
      return canonicalDecimal(String(value));
    case "datetime":
      return typeof value === "string" ? canonicalDateTime(value) : value;
    case "json":
    case "object":
    case "list_object":
    case "list_string":
      return sortKeys(value); // jsonb equality ignores the order of an object's keys
    default:
      return value; // text, integer, float, boolean and date compare as JSON.parse produced them
  }
}

/** A function giving the canonical key text of a row (`storage.key` columns) of `entity`; a stored entity only. */
export function createKeyOf(entity: Entity): (row: Record<string, unknown>) => string {
  // One per entity: decodeMessage() asks for it for every message (the duplicate check of its children).
  const cached = keyOfs.get(entity);
  if (cached) return cached;
  const keyOf = buildKeyOf(entity);
  keyOfs.set(entity, keyOf);
  return keyOf;
}

const keyOfs = new WeakMap<Entity, (row: Record<string, unknown>) => string>();

function buildKeyOf(entity: Entity): (row: Record<string, unknown>) => string {
  const storage = entity.storage!;
  const types = storage.key.map((name) => storage.columns.find((c) => c.name === name)?.type);
  return (row) => JSON.stringify(storage.key.map((name, i) => canonicalKeyValue(types[i], row[name])));
}

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([-+]?\d+))?$/;

/** `digits e exponent` with no leading or trailing zeros: 1.50, 1.5, 15e-1 and 0.15e1 all give `15e-1`. */
function canonicalDecimal(text: string): string {
  const m = DECIMAL.exec(text);
  if (!m) return text; // validation only lets numbers and numeric strings through
  const [, sign, whole, fraction = "", exponent = "0"] = m;
  let digits = (whole + fraction).replace(/^0+/, "");
  if (digits === "") return "0"; // -0, 0.00 and 0e5 are all numeric zero
  let scale = BigInt(exponent) - BigInt(fraction.length);
  const trailing = digits.length - digits.replace(/0+$/, "").length;
  digits = digits.slice(0, digits.length - trailing);
  scale += BigInt(trailing);
  return `${sign}${digits}e${scale}`;
}

const DATETIME = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?$/;

/**
 * Microseconds since the epoch (timestamptz keeps microseconds and rounds finer digits). A date-time without an
 * offset is UTC: PostgreSQL reads it in the session's time zone, which nomnom pins to UTC (src/db/connect.ts).
 */
function canonicalDateTime(text: string): string {
  const m = DATETIME.exec(text);
  if (!m) return text;
  const [, date, hours, minutes, seconds = "00", fraction = "", offset] = m;
  const ms = Date.parse(`${date}T${hours}:${minutes}:${seconds}${offset ?? "Z"}`);
  const padded = (fraction + "0000000").slice(0, 7);
  const micros = BigInt(ms) * 1000n + BigInt(padded.slice(0, 6)) + (Number(padded[6]) >= 5 ? 1n : 0n);
  return String(micros);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.keys(value).sort().map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
  );
}
