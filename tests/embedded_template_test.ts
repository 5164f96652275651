/**
 * The embedded database's first start: an empty data dir is filled from the committed template (not by initdb,
 * most of a first start's time), which must be the one the installed PGlite makes; a start killed halfway
 * through the unpack starts afresh; an existing database is opened as it is.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import postgres from "postgres";
import { startEmbeddedPostgres } from "../src/embedded/postgres.ts";
import { TEMPLATE_PGLITE_VERSION, TEMPLATE_POSTGRES_VERSION } from "../src/embedded/pgdata_template.ts";
import { createLogger } from "../src/log.ts";
import { ROOT } from "./child.ts";
import { createTempDir } from "./harness.ts";

/** Start the embedded database on `dataDir`, run `body` against it, and say how it was created. */
async function withEmbedded(dataDir: string, body: (sql: postgres.Sql) => Promise<void>): Promise<string> {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger("info", {}, (line) => lines.push(JSON.parse(line)));
  const pg = await startEmbeddedPostgres(dataDir, log);
  const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
  try {
    await body(sql);
  } finally {
    await sql.end();
    await pg.stop();
  }
  const ready = lines.find((l) => l.msg === "embedded postgres ready");
  assert.ok(ready, `no "embedded postgres ready" line in ${JSON.stringify(lines)}`);
  return String(ready.created);
}

Deno.test("the data dir template was made by the installed PGlite (else: deno task pglite-template)", async () => {
  const pkg = JSON.parse(
    await readFile(join(ROOT, "node_modules/@electric-sql/pglite/package.json"), "utf8"),
  ) as { version: string };
  assert.equal(
    TEMPLATE_PGLITE_VERSION,
    pkg.version,
    "src/embedded/pgdata_template.tar.gz was made by another PGlite: run `deno task pglite-template`",
  );
  assert.ok(existsSync(join(ROOT, "src/embedded/pgdata_template.tar.gz")));
});

Deno.test("a first start fills an empty data dir from the template; the next start opens what it wrote", async () => {
  await using dir = await createTempDir("nomnom-template-");
  const created = await withEmbedded(dir.path, async (sql) => {
    const [{ server_version }] = await sql`SHOW server_version`;
    assert.equal(server_version, TEMPLATE_POSTGRES_VERSION);
    await sql`CREATE TABLE kept (id int PRIMARY KEY)`;
    await sql`INSERT INTO kept VALUES (7)`;
  });
  assert.equal(created, "template");
  assert.equal(existsSync(join(dir.path, "pg", ".nomnom-unpacking")), false);
  const reopened = await withEmbedded(dir.path, async (sql) => {
    assert.deepEqual([...await sql`SELECT id FROM kept`], [{ id: 7 }]);
  });
  assert.equal(reopened, "existing");
});

Deno.test("a start killed while unpacking the template (its marker left behind) starts afresh", async () => {
  await using dir = await createTempDir("nomnom-template-");
  await Deno.mkdir(join(dir.path, "pg"), { recursive: true });
  // What a kill halfway leaves: the marker, and files of a database that is not whole.
  await writeFile(join(dir.path, "pg", ".nomnom-unpacking"), "");
  await writeFile(join(dir.path, "pg", "PG_VERSION"), "18\n");
  const created = await withEmbedded(dir.path, async (sql) => {
    const [{ one }] = await sql`SELECT 1 AS one`;
    assert.equal(one, 1);
  });
  assert.equal(created, "template");
});
