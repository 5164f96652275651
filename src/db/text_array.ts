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
  let literal = "{";
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i > 0) literal += ",";
    if (v === null) literal += "NULL";
    else literal += NEEDS_ESCAPE.test(v) ? `"${v.replace(ESCAPED, "\\$&")}"` : `"${v}"`;
  }
  return literal + "}";
}
