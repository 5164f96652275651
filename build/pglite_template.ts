/**
 * `deno task pglite-template`: write src/embedded/pgdata_template.tar.gz, a PGlite data directory right after
 * initdb, and the PGlite version it was made with (src/embedded/pgdata_template.ts). The embedded demo unpacks
 * it into an empty data dir instead of running initdb, which in WebAssembly takes 6–20 s on this kind of machine
 * (it is most of a first start); unpacking takes well under one. Run it again after upgrading
 * @electric-sql/pglite: tests/embedded_template_test.ts fails until the versions agree.
 *
 * The directory is archived after a clean shutdown, not dumped from the running database (dumpDataDir): a
 * dump looks like a crashed server, and every first start then ran crash recovery. Only the WAL segment that
 * holds the last checkpoint goes in, and it is a fresh one (a switch before the checkpoint): the segment
 * initdb filled is 16 MB of WAL no start reads, and a recycled one is 16 MB of old WAL.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { PGlite } from "@electric-sql/pglite";
import { type TarEntry, writeTar } from "../src/embedded/template_archive.ts";

const ROOT = new URL("../", import.meta.url);
const pkg = JSON.parse(
  await readFile(new URL("node_modules/@electric-sql/pglite/package.json", ROOT), "utf8"),
) as { version: string };

const dir = await mkdtemp(join(tmpdir(), "nomnom-pgdata-"));
try {
  const db = await PGlite.create(dir);
  const [{ server_version }] = (await db.query<{ server_version: string }>("SHOW server_version")).rows;
  await db.query("SELECT pg_switch_wal()");
  await db.query("CHECKPOINT");
  const [{ segment }] = (await db.query<{ segment: string }>(
    "SELECT pg_walfile_name(pg_current_wal_insert_lsn()) AS segment",
  )).rows;
  await db.close();

  const entries = await walk(dir, "", (path) => !/^pg_wal\/[0-9A-F]{24}$/.test(path) || path.endsWith(segment));
  const tarball = gzipSync(writeTar(entries), { level: 9 });
  await writeFile(new URL("src/embedded/pgdata_template.tar.gz", ROOT), tarball);
  await writeFile(
    new URL("src/embedded/pgdata_template.ts", ROOT),
    `/**
 * Written by \`deno task pglite-template\` (build/pglite_template.ts) with pgdata_template.tar.gz, a PGlite data
 * directory right after initdb. Do not edit: run that task again after upgrading @electric-sql/pglite.
 */
export const TEMPLATE_PGLITE_VERSION = ${JSON.stringify(pkg.version)};
export const TEMPLATE_POSTGRES_VERSION = ${JSON.stringify(server_version)};
`,
  );
  console.log(
    `wrote src/embedded/pgdata_template.tar.gz (${tarball.length} bytes, ${entries.length} members, WAL ${segment}): ` +
      `PGlite ${pkg.version}, PostgreSQL ${server_version}`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}

/** The directories and files under `root` (paths relative to it, sorted: the same tree makes the same archive). */
async function walk(root: string, below: string, keep: (path: string) => boolean): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  const names = (await readdir(join(root, below), { withFileTypes: true }))
    .sort((a, b) => a.name < b.name ? -1 : 1);
  for (const item of names) {
    const path = below ? `${below}/${item.name}` : item.name;
    if (!keep(path)) continue;
    if (item.isDirectory()) entries.push({ path, type: "dir" }, ...await walk(root, path, keep));
    else entries.push({ path, type: "file", data: await readFile(join(root, path)) });
  }
  return entries;
}
