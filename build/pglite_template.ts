/**
 * `deno task pglite-template`: write src/embedded/pgdata_template.tar.gz, a PGlite data directory right after
 * initdb, and the PGlite version it was made with (src/embedded/pgdata_template.ts). The embedded demo unpacks
 * it into an empty data dir instead of running initdb, which in WebAssembly takes 6–20 s on this kind of machine
 * (it is most of a first start); unpacking takes well under one. Run it again after upgrading
 * @electric-sql/pglite: src/embedded/pgdata_template_test.ts fails until the versions agree.
 */
import { readFile, writeFile } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";

const ROOT = new URL("../", import.meta.url);
const pkg = JSON.parse(
  await readFile(new URL("node_modules/@electric-sql/pglite/package.json", ROOT), "utf8"),
) as { version: string };

const db = await PGlite.create("memory://");
const [{ server_version }] = (await db.query<{ server_version: string }>("SHOW server_version")).rows;
const tarball = await db.dumpDataDir("gzip");
await db.close();

await writeFile(new URL("src/embedded/pgdata_template.tar.gz", ROOT), new Uint8Array(await tarball.arrayBuffer()));
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
  `wrote src/embedded/pgdata_template.tar.gz (${tarball.size} bytes): PGlite ${pkg.version}, PostgreSQL ${server_version}`,
);
