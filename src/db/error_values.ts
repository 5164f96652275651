/**
 * Row values out of database error text. PostgreSQL puts the data it refused into its messages: the whole row
 * (`Failing row contains (…)`, 23502 and 23514), the key (`Key (order_key)=(O-1) already exists`, 23505, 23503,
 * 23P01), the input (`invalid input syntax for type integer: "abc"`, `value "99999999999" is out of range`,
 * `Token "x" is invalid`). `hideValues()` keeps what an operator needs to act — the SQLSTATE, the message, the
 * constraint, table, column and type names — and replaces every value with `…`. It works on text, so it also
 * cleans errors stored before it existed. Used for every log line (src/log.ts) and for what a reader without the
 * `dlq` scope sees (status, dead-letter list, dashboard, /stats); the `dlq` scope gets the full text.
 *
 * Where a value's end cannot be told from its content (a value may itself hold `) already exists` or a quote),
 * the match runs to the LAST possible end, so a crafted value hides more, never less. A message a trigger or
 * function raises itself (`RAISE EXCEPTION`) is kept as it was written, except for the forms above.
 */

const HIDDEN = "…";

/** The closing `)` (and the `.` and describeError's own `)`) a hidden value was followed by, if the text has them. */
const closing = (rest: string) => /\)\.?\)?$/.exec(rest)?.[0] ?? "";

/**
 * 23505, 23503, 23P01: `Key (a, b)=(1, x) already exists.` Everything from the `=(` is hidden up to the LAST
 * ending PostgreSQL writes (`) already exists`, …): what follows it, a table name, is kept.
 */
function hideKey(_: string, key: string, rest: string): string {
  const second = /\) conflicts with existing key (\([^)]*\)=)\(/g;
  let conflict: RegExpExecArray | null = null;
  for (let m; (m = second.exec(rest));) conflict = m;
  if (conflict) {
    return `${key}(${HIDDEN}) conflicts with existing key ${conflict[1]}(${HIDDEN}${closing(rest)}`;
  }
  const end = Math.max(
    ...[") already exists", ") is not present in table", ") is still referenced from table"].map((e) =>
      rest.lastIndexOf(e)
    ),
  );
  return end >= 0 ? `${key}(${HIDDEN}${rest.slice(end)}` : `${key}(${HIDDEN}${closing(rest) || ")"}`;
}

/**
 * Each rule: a pattern that starts at a value and runs to its LAST possible end, or to the end of the text when
 * the end is missing (a text cut short); the replacement keeps the names around it.
 */
const RULES: [RegExp, (...groups: string[]) => string][] = [
  // 23502, 23514: the detail is the whole row; nothing of it is kept.
  [/Failing row contains \((.*)$/s, (_, rest) => `Failing row contains (${HIDDEN}${closing(rest) || ")"}`],
  [/(Key \([^)]*\)=)\((.*)$/s, hideKey],
  // 22P02, 22007, 22008, 22021, …: `invalid input syntax for type integer: "abc"`.
  [/: "(?:.*"|.*$)/gs, () => `: "${HIDDEN}"`],
  // 22003 on parse: `value "99999999999" is out of range for type integer`; json: `Token "abc" is invalid.`
  [
    /(value |Token )"(?:.*"( is out of range| is invalid)|.*$)/gs,
    (_, word, end) => `${word}"${HIDDEN}"${end}`,
  ],
];

/** `text` with every row value a database error carries replaced by `…` (names and SQLSTATE kept). Pure. */
export function hideValues(text: string): string {
  let out = text;
  for (const [pattern, replace] of RULES) {
    out = out.replace(pattern, (...match) => replace(...match.slice(0, -2).map((g) => g ?? "")));
  }
  return out;
}
