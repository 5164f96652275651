/**
 * The lines of an NDJSON body as byte ranges of the body itself: a batch's lines are validated and published
 * as views of the bytes the request brought, so a batch of 1,000 lines is not also held as a decoded string,
 * 1,000 substrings, 1,000 line objects and 1,000 encoded copies while its publishes wait for their acks (16
 * such batches at once made the API's peak RSS; docs/performance.md, "what the API's memory is made of").
 */

/** UTF-8's byte order mark: TextDecoder drops it from the start of a body, so the first line starts after it. */
const BOM = [0xef, 0xbb, 0xbf];
const LF = 0x0a;
const CR = 0x0d;

/**
 * The non-blank lines of `bytes` (valid UTF-8): for line k, bytes `start[k]` to `end[k]` (exclusive) are its
 * text and `number[k]` its 1-based line number in the body, blank lines counted. Lines end at "\n" or "\r\n",
 * as `text.split(/\r?\n/)` splits them; a line is blank when `String.prototype.trim()` leaves nothing of it.
 */
export function findLines(bytes: Uint8Array): { start: number[]; end: number[]; number: number[] } {
  const start: number[] = [];
  const end: number[] = [];
  const number: number[] = [];
  let from = BOM.every((b, i) => bytes[i] === b) ? BOM.length : 0;
  for (let line = 1; from <= bytes.length; line++) {
    const lf = bytes.indexOf(LF, from);
    const to = lf === -1 ? bytes.length : lf > from && bytes[lf - 1] === CR ? lf - 1 : lf;
    if (!isBlank(bytes, from, to)) {
      start.push(from);
      end.push(to);
      number.push(line);
    }
    if (lf === -1) break;
    from = lf + 1;
  }
  return { start, end, number };
}

const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** Blank as `trim()` sees it: ASCII whitespace only, or (rarely) other Unicode white space that trim() drops. */
function isBlank(bytes: Uint8Array, from: number, to: number): boolean {
  let nonAscii = false;
  for (let i = from; i < to; i++) {
    const b = bytes[i];
    if (b === 0x20 || (b >= 0x09 && b <= 0x0d)) continue;
    if (b < 0x80) return false;
    nonAscii = true;
  }
  return !nonAscii || decoder.decode(bytes.subarray(from, to)).trim() === "";
}
