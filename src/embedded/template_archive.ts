/**
 * The data dir template (pgdata_template.tar.gz) and its unpacking. nomnom unpacks it itself rather than through
 * PGlite's `loadDataDir`, which untars in JavaScript and writes each of the ~1,000 files through Emscripten's
 * file system on the database's thread after the WebAssembly has loaded: most of a first start (PGlite ready
 * ~1.4 s after its WebAssembly against ~0.4 s on a restart, at load 5 here). Here the archive is inflated
 * once, the files are written by node:fs (several at once, pages of zeros left as holes) while PGlite's code
 * and WebAssembly load beside it, and PGlite then opens a database that is already there.
 *
 * Only POSIX ustar regular files and directories are read (what writeTar() and PGlite's dumpDataDir write);
 * anything else is an error, and the caller falls back to initdb with the reason logged.
 */
import { mkdir, open, writeFile } from "node:fs/promises";
import { dirname, join, normalize } from "node:path";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";

/** One member of a tar archive: a directory, or a file with its bytes (a view into the archive). */
export type TarEntry = { path: string; type: "dir" } | { path: string; type: "file"; data: Uint8Array };

const BLOCK = 512;
/** PostgreSQL's page size: the unit in which runs of zeros are left as holes. */
const PAGE = 8192;
/** Files written at once: enough to keep the disk's queue full, few enough not to flood the thread pool. */
const WRITES_AT_ONCE = 16;

/** The members of an uncompressed ustar archive, in order. Throws on a member type it does not handle. */
export function readTar(tar: Uint8Array): TarEntry[] {
  const entries: TarEntry[] = [];
  const text = new TextDecoder();
  const field = (at: number, length: number) => {
    const bytes = tar.subarray(at, at + length);
    const end = bytes.indexOf(0);
    return text.decode(end < 0 ? bytes : bytes.subarray(0, end));
  };
  for (let at = 0; at + BLOCK <= tar.length;) {
    const name = field(at, 100);
    if (name === "") break; // the two zero blocks that end the archive
    const prefix = field(at + 345, 155);
    const size = parseInt(field(at + 124, 12).trim() || "0", 8);
    const type = String.fromCharCode(tar[at + 156]);
    const path = relativePath(prefix ? `${prefix}/${name}` : name);
    // A size that is not a number, or runs past the archive's end, would unpack a short file without a word.
    if (!Number.isSafeInteger(size) || size < 0 || at + BLOCK + size > tar.length) {
      throw new Error(`tar member "${name}" has a size (${size}) the archive does not hold`);
    }
    if (type === "5") entries.push({ path, type: "dir" });
    else if (type === "0" || type === "\0") {
      entries.push({ path, type: "file", data: tar.subarray(at + BLOCK, at + BLOCK + size) });
    } else {throw new Error(
        `tar member "${name}" has type "${type}"; only files and directories are unpacked`,
      );}
    at += BLOCK + padded(size);
  }
  return entries;
}

/**
 * An uncompressed ustar archive of `entries` (what readTar() reads back): mode 0600/0700, owner 0, mtime 0,
 * so that the same files always make the same bytes.
 */
export function writeTar(entries: TarEntry[]): Uint8Array {
  const size = entries.reduce((n, e) => n + BLOCK + (e.type === "file" ? padded(e.data.length) : 0), 0);
  const tar = new Uint8Array(size + 2 * BLOCK);
  const text = new TextEncoder();
  let at = 0;
  for (const entry of entries) {
    const header = tar.subarray(at, at + BLOCK);
    const put = (offset: number, value: string) => header.set(text.encode(value), offset);
    const octal = (offset: number, length: number, value: number) =>
      put(offset, value.toString(8).padStart(length - 1, "0"));
    const [prefix, name] = splitName(entry.path);
    put(0, name);
    octal(100, 8, entry.type === "dir" ? 0o700 : 0o600);
    octal(108, 8, 0);
    octal(116, 8, 0);
    octal(124, 12, entry.type === "file" ? entry.data.length : 0);
    octal(136, 12, 0);
    put(148, "        "); // the checksum counts its own field as spaces
    put(156, entry.type === "dir" ? "5" : "0");
    put(257, "ustar\u000000");
    put(345, prefix);
    octal(148, 7, header.reduce((sum, byte) => sum + byte, 0));
    at += BLOCK;
    if (entry.type === "file") {
      tar.set(entry.data, at);
      at += padded(entry.data.length);
    }
  }
  return tar;
}

const padded = (length: number) => Math.ceil(length / BLOCK) * BLOCK;

/** ustar's name field holds 100 bytes, its prefix 155 more (split at a slash). */
function splitName(path: string): [string, string] {
  if (path.length <= 100) return ["", path];
  const cut = path.lastIndexOf("/", 155);
  if (cut <= 0 || path.length - cut - 1 > 100) {
    throw new Error(`path "${path}" is too long for a ustar archive`);
  }
  return [path.slice(0, cut), path.slice(cut + 1)];
}

/** A member's path below the target directory; one that would leave it (`../`) is refused. */
function relativePath(name: string): string {
  const path = normalize(name.replace(/^\/+/, ""));
  if (path === ".." || path.startsWith("../")) {
    throw new Error(`tar member "${name}" points outside the data dir`);
  }
  return path;
}

/** Inflate `gz` (a tar.gz) and write its members under `dir`: directories 0700, files 0600, as initdb makes them. */
export async function unpackTemplate(gz: Uint8Array, dir: string): Promise<void> {
  const entries = readTar(await promisify(gunzip)(gz));
  const dirs = new Set<string>();
  const files: { path: string; data: Uint8Array }[] = [];
  for (const entry of entries) {
    if (entry.type === "dir") dirs.add(join(dir, entry.path));
    else {
      const path = join(dir, entry.path);
      dirs.add(dirname(path));
      files.push({ path, data: entry.data });
    }
  }
  // Parents before children; `recursive` also makes a parent the archive does not list.
  for (const path of [...dirs].sort()) await mkdir(path, { recursive: true, mode: 0o700 });
  let next = 0;
  const writer = async () => {
    while (next < files.length) {
      const { path, data } = files[next++];
      await writeSparse(path, data);
    }
  };
  await Promise.all(Array.from({ length: WRITES_AT_ONCE }, writer));
}

/**
 * Write `data` to a new file, leaving pages of zeros as holes: the WAL segment PostgreSQL needs is 16 MB
 * of which a few KB are written, and this disk writes ~100 MB/s (40 MB written took 0.4 s here).
 */
async function writeSparse(path: string, data: Uint8Array): Promise<void> {
  const runs = nonZeroRuns(data);
  if (runs.length === 1 && runs[0][0] === 0 && runs[0][1] === data.length) {
    return await writeFile(path, data, { mode: 0o600 });
  }
  const file = await open(path, "w", 0o600);
  try {
    for (const [from, to] of runs) await file.write(data, from, to - from, from);
    await file.truncate(data.length);
  } finally {
    await file.close();
  }
}

/** The [from, to) byte ranges of `data` that are not whole pages of zeros, adjacent pages merged. */
export function nonZeroRuns(data: Uint8Array): [number, number][] {
  const runs: [number, number][] = [];
  for (let from = 0; from < data.length; from += PAGE) {
    const to = Math.min(from + PAGE, data.length);
    if (isZero(data.subarray(from, to))) continue;
    const last = runs.at(-1);
    if (last && last[1] === from) last[1] = to;
    else runs.push([from, to]);
  }
  return runs;
}

function isZero(bytes: Uint8Array): boolean {
  // Eight bytes at a time where the view is aligned (tar members start on 512-byte boundaries).
  if (bytes.byteOffset % 8 === 0 && bytes.length % 8 === 0) {
    const words = new BigUint64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8);
    for (let i = 0; i < words.length; i++) if (words[i] !== 0n) return false;
    return true;
  }
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}
