import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { nonZeroRuns, readTar, type TarEntry, unpackTemplate, writeTar } from "./template_archive.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("readTar() reads back what writeTar() wrote, long paths included", () => {
  const long = `${"d".repeat(120)}/${"f".repeat(90)}`;
  const entries: TarEntry[] = [
    { path: "base", type: "dir" },
    { path: "base/PG_VERSION", type: "file", data: bytes("18\n") },
    { path: "empty", type: "file", data: new Uint8Array(0) },
    { path: long, type: "file", data: bytes("x".repeat(513)) },
  ];
  const read = readTar(writeTar(entries));
  assert.deepEqual(read.map((e) => [e.path, e.type]), entries.map((e) => [e.path, e.type]));
  assert.deepEqual(
    read.map((e) => e.type === "file" ? [...e.data] : []),
    entries.map((e) => e.type === "file" ? [...e.data] : []),
  );
});

Deno.test("writeTar() writes archives that tar itself lists", async () => {
  const dir = await mkdtemp(join(tmpdir(), "nomnom-tar-"));
  try {
    const archive = join(dir, "t.tar");
    await writeFile(
      archive,
      writeTar([{ path: "a", type: "dir" }, { path: "a/b", type: "file", data: bytes("hi") }]),
    );
    const listed = execFileSync("tar", ["tvf", archive], { encoding: "utf8" });
    assert.match(listed, /^drwx------ .* a\/?$/m);
    assert.match(listed, /^-rw------- .* 2 .* a\/b$/m);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("readTar() refuses members it cannot unpack and paths outside the data dir", () => {
  const link = writeTar([{ path: "l", type: "file", data: new Uint8Array(0) }]);
  link[156] = "2".charCodeAt(0); // a symbolic link (its checksum is not read)
  assert.throws(() => readTar(link), /tar member "l" has type "2"/);
  assert.throws(
    () => readTar(writeTar([{ path: "../x", type: "file", data: new Uint8Array(0) }])),
    /points outside the data dir/,
  );
  const cut = writeTar([{ path: "f", type: "file", data: bytes("x".repeat(2_000)) }]).subarray(0, 1_024);
  assert.throws(() => readTar(cut), /tar member "f" has a size \(2000\) the archive does not hold/);
  const garbled = writeTar([{ path: "g", type: "file", data: bytes("y") }]);
  garbled.set(bytes("zz"), 124); // the size field, no longer octal
  assert.throws(() => readTar(garbled), /tar member "g" has a size \(NaN\)/);
});

Deno.test("nonZeroRuns() leaves whole 8 KB pages of zeros out, and merges adjacent pages", () => {
  const data = new Uint8Array(5 * 8192 + 100);
  data[10] = 1; // page 0
  data[8192 + 5] = 1; // page 1
  data[4 * 8192] = 1; // page 4
  assert.deepEqual(nonZeroRuns(data), [[0, 2 * 8192], [4 * 8192, 5 * 8192]]);
  data[5 * 8192 + 99] = 1; // the short last page
  assert.deepEqual(nonZeroRuns(data).at(-1), [4 * 8192, 5 * 8192 + 100]);
  assert.deepEqual(nonZeroRuns(new Uint8Array(3 * 8192)), []);
});

Deno.test("unpackTemplate() writes every file with its size and bytes, zero pages as holes", async () => {
  const dir = await mkdtemp(join(tmpdir(), "nomnom-unpack-"));
  try {
    const wal = new Uint8Array(16 * 8192);
    wal.set(bytes("record"), 3 * 8192);
    await unpackTemplate(
      gzipSync(writeTar([
        { path: "PG_VERSION", type: "file", data: bytes("18\n") },
        { path: "pg_wal/000000010000000000000002", type: "file", data: wal }, // its directory is not listed
      ])),
      dir,
    );
    assert.equal(await readFile(join(dir, "PG_VERSION"), "utf8"), "18\n");
    const written = await readFile(join(dir, "pg_wal/000000010000000000000002"));
    assert.deepEqual(new Uint8Array(written), wal);
    const info = await stat(join(dir, "pg_wal/000000010000000000000002"));
    assert.equal(info.size, wal.length);
    assert.equal(info.mode & 0o777, 0o600);
    assert.ok(info.blocks! * 512 < wal.length, `${info.blocks} blocks: the zero pages were written`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("the shipped template is a data directory these functions read: PG_VERSION and one WAL segment", async () => {
  const gz = await readFile(new URL("./pgdata_template.tar.gz", import.meta.url));
  const { gunzipSync } = await import("node:zlib");
  const entries = readTar(gunzipSync(gz));
  assert.ok(entries.some((e) => e.path === "PG_VERSION" && e.type === "file"));
  assert.equal(entries.filter((e) => /^pg_wal\/[0-9A-F]{24}$/.test(e.path)).length, 1);
  assert.ok(
    !entries.some((e) => e.path === "postmaster.pid"),
    "made from a running server, not a clean shutdown",
  );
});
