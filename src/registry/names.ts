/**
 * Names that become SQL identifiers or NATS tokens. Everything spliced into SQL text passes `sqlIdent()`.
 */

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/**
 * Columns nomnom adds to every entity table, with their SQL definitions: the message that wrote the row, its
 * stream sequence (the version guard) and when. No entity may declare a column of these names.
 */
export const META_COLUMNS = {
  _message_id: "text NOT NULL",
  _seq: "bigint NOT NULL",
  _updated_at: "timestamptz NOT NULL DEFAULT now()",
} as const;
/** Extra columns of derived tables: the root message's key (children are replaced with it) and the position. */
export const DERIVED_META_COLUMNS = { _root_key: "text NOT NULL", _index: "integer NOT NULL" } as const;

/** A column nomnom adds. */
export type MetaColumn = keyof typeof META_COLUMNS | keyof typeof DERIVED_META_COLUMNS;

/** True when `name` is a column nomnom adds, so no entity may declare it. */
export function isMetaColumn(name: string): name is MetaColumn {
  return Object.hasOwn(META_COLUMNS, name) || Object.hasOwn(DERIVED_META_COLUMNS, name);
}

/** `OrderLineItem` → `order_line_item`; already-snake names are unchanged. */
export function snakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
    .toLowerCase();
}

/** English plural good enough for table names: `order_line_item` → `order_line_items`, `category` → `categories`. */
export function pluralize(word: string): string {
  if (/[^aeiou]y$/.test(word)) return word.slice(0, -1) + "ies";
  if (/(s|x|z|ch|sh)$/.test(word)) return word + "es";
  return word + "s";
}

/** True when `name` is a valid (lower snake case) SQL identifier nomnom accepts. */
export function isIdentifier(name: string): boolean {
  return IDENTIFIER.test(name) && name.length <= 63;
}

/** Quote a validated identifier for SQL text. Throws on anything that did not pass `isIdentifier()`. */
export function sqlIdent(name: string): string {
  if (!isIdentifier(name)) throw new Error(`Refusing to use "${name}" as an SQL identifier`);
  return `"${name}"`;
}
