/**
 * "Did you mean …?" for a mistyped command, action or flag: the closest known name by edit distance, when it is
 * close enough to be a typo (fastest-levenshtein: a small, dependency-free, well-used implementation).
 */
import { distance } from "fastest-levenshtein";

/** `; did you mean "--port"?` (with `prefix` before the name), or "" when nothing is close. */
export function suggest(typed: string, known: readonly string[], prefix = ""): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const d = distance(typed.toLowerCase(), name.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  // A third of the word (at least 2 edits) is a typo; more is a different word, and a wrong hint misleads.
  const close = best !== undefined && bestDistance <= Math.max(2, Math.floor(typed.length / 3));
  return close ? `; did you mean ${prefix}${best}?` : "";
}
