/**
 * Names that become SQL identifiers or NATS tokens. Everything spliced into SQL text passes `sqlIdent()`.
 */

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

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
