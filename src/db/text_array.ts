/**
 * A `text[]` parameter written as PostgreSQL's array literal by us (pure): `{"a","b \"c\"",NULL}`. postgres.js
 * passes a string parameter of an array type through unchanged (types.js arraySerializer), and its own
 * serializer runs two regular-expression replaces on every element; a batch's unnest parameters are tens of
 * thousands of elements, and this is about 3× faster (bench/batch_profile.ts). Every element is quoted, so
 * commas, braces, spaces and the text `NULL` stay data; only `\` and `"` are escaped inside the quotes
 * (PostgreSQL's array input, "Array Value Input" in the manual).
 */

const NEEDS_ESCAPE = /[\\"]/;
const ESCAPED = /[\\"]/g;

/** The array literal of `values` (null elements are SQL NULL). */
export function textArray(values: readonly (string | null)[]): string {
  return textArrayOf(values, (v) => v);
}

/**
 * The array literal of `text(item)` for each of `items`, without an array of the texts in between: a batch's
 * upsert reads ~35,000 values straight from its rows into its literals.
 */
export function textArrayOf<T>(items: readonly T[], text: (item: T) => string | null): string {
  let literal = "{";
  for (let i = 0; i < items.length; i++) {
    const v = text(items[i]);
    if (i > 0) literal += ",";
    if (v === null) literal += "NULL";
    else literal += NEEDS_ESCAPE.test(v) ? `"${v.replace(ESCAPED, "\\$&")}"` : `"${v}"`;
  }
  return literal + "}";
}
