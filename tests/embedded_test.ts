/**
 * The demo's embedded defaults, run from source: data survives a restart, one demo per data dir, a Ctrl-C
 * drains before the child nats-server stops, which never outlives nomnom (even when nomnom is killed
 * outright), and a missing or failing nats-server is a clear error.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import postgres from "postgres";
import { startEmbeddedNats } from "../src/embedded/nats.ts";
import { silentLogger } from "../src/log.ts";
import { loadRegistry } from "../src/registry/load.ts";
import { createSampleMessage } from "../src/registry/sample.ts";
import { apiUrl, ROOT, runChild, startNomnom } from "./child.ts";
import { createTempDir, post, waitFor, waitForStatus } from "./harness.ts";
import { OPEN_API_WARNING } from "../src/app.ts";

/**
 * The demo from source on `dataDir`, without NATS_URL and DATABASE_URL. `detached`: it leads its own process
 * group, as a command started from a terminal does. No drain on SIGTERM: no load balancer is in front of it.
 */
function demo(dataDir: string, env: Record<string, string> = {}, detached = false) {
  return startNomnom(["--port=0", `--data-dir=${dataDir}`, "--shutdown-drain-ms=0"], {
    detached,
    env: { NATS_URL: "", DATABASE_URL: "", ...env },
  });
}

async function natsServers(dataDir: string): Promise<string> {
  return (await runChild("pgrep", ["-f", `nats-serve[r] .*${dataDir}/nats`])).stdout.trim();
}

async function processGroup(pid: string): Promise<string> {
  const ps = await runChild("ps", ["-o", "pgid=", "-p", pid]);
  assert.equal(ps.code, 0, ps.stderr);
  return ps.stdout.trim();
}

Deno.test("the embedded demo keeps its data across a restart and leaves no nats-server behind, even when killed", async () => {
  await using dir = await createTempDir("nomnom-demo-");
  const dataDir = dir.path;
  const registry = await loadRegistry(join(ROOT, "entities"));
  let id: string;
  {
    await using first = demo(dataDir);
    const url = await apiUrl(first);
    const accepted = await post(
      `${url}/ingest/message/Order`,
      createSampleMessage(registry, registry.entities.get("Order")!),
    );
    id = accepted.body.message_id as string;
    await waitForStatus(url, id, "completed");
    await first.stop("SIGTERM", 0);
    assert.equal(await natsServers(dataDir), "");
  }

  // The rows themselves are on disk: a fresh PGlite on the data dir finds the order and its line item.
  const db = await PGlite.create(join(dataDir, "pg"));
  try {
    for (const name of ["Order", "OrderLineItem"]) {
      const table = registry.entities.get(name)!.storage!.table;
      const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
      assert.equal(rows[0].n, 1, `${table} kept its row`);
    }
  } finally {
    await db.close();
  }

  await using second = demo(dataDir);
  const status = await (await fetch(`${await apiUrl(second)}/ingest/status/${id}`)).json();
  assert.equal(status.status, "completed", "the status survived the restart");
  assert.notEqual(await natsServers(dataDir), "");
  await second.stop("SIGKILL", "SIGKILL"); // a crash: no chance to clean up
  await waitFor("the orphaned nats-server to go", async () => (await natsServers(dataDir)) === "", 5_000);
});

Deno.test("a second demo on a data dir in use stops at once, naming the dir and the other demo's pid", async () => {
  await using dir = await createTempDir("nomnom-demo-");
  await using first = demo(dir.path);
  const url = await apiUrl(first);
  await using second = demo(dir.path);
  await second.expectExit(1);
  assert.match(
    second.stderr(),
    new RegExp(`data dir ${dir.path} is in use by another nomnom \\(pid ${first.pid}\\)`),
  );
  const status = await fetch(`${url}/ready`);
  assert.equal(status.status, 200, "the first demo runs on, untouched");
  await status.body?.cancel();
  await first.stop("SIGTERM", 0);
});

Deno.test("Ctrl-C in a terminal (SIGINT to the demo's process group) drains with NATS still up, then stops it", async () => {
  await using dir = await createTempDir("nomnom-demo-");
  await using run = demo(dir.path, {}, true);
  await apiUrl(run);
  const server = await natsServers(dir.path);
  assert.notEqual(server, "");
  // Idle, nomnom usually wins the race against a server that got the SIGINT too; with a batch in flight
  // it loses. What decides it: the server is outside the group a terminal signals.
  assert.notEqual(await processGroup(server), String(run.pid), "nats-server has its own process group");
  run.signal("SIGINT", { group: true }); // what the terminal does: the whole foreground group
  await run.expectExit(0);
  // The open-API warning comes at start, by design (no keys file in a demo).
  const problems = run.stderr().split("\n")
    .filter((l) => /"level":"(error|warn)"/.test(l) && !l.includes(OPEN_API_WARNING));
  assert.deepEqual(problems, [], "a clean drain: no errors or warnings on the way out");
  assert.match(run.stderr(), /"msg":"stopped"/);
  assert.equal(await natsServers(dir.path), "");
});

Deno.test("a nats-server that fails to start is reported with its own last words", async () => {
  await using dir = await createTempDir("nomnom-demo-");
  await mkdir(join(dir.path, "nats"), { recursive: true });
  await writeFile(join(dir.path, "nats", "jetstream"), "not a directory");
  await assert.rejects(
    startEmbeddedNats(dir.path, "nats-server", silentLogger),
    /did not start: it exited \(1\)\. Its last output:\n(.*\n)*.*Can't start JetStream: storage directory is not a directory/,
  );
  assert.ok(!existsSync(join(dir.path, "nomnom.lock")), "it gave the data dir back");
});

Deno.test("without a nats-server the demo says how to get one", async () => {
  await using dir = await createTempDir("nomnom-demo-");
  await using run = demo(dir.path, { NOMNOM_NATS_SERVER: "/nonexistent/nats-server" });
  await run.expectExit(1);
  assert.match(
    run.stderr(),
    /No nats-server found at NOMNOM_NATS_SERVER=\/nonexistent\/nats-server.*apt-get install nats-server/,
  );
  assert.match(run.stderr(), /--nats-url \(NATS_URL\)/);
});

Deno.test("a slow query against the embedded database does not freeze the API: /health answers while it runs", async () => {
  await using dir = await createTempDir("nomnom-demo-");
  await using running = demo(dir.path);
  const url = await apiUrl(running);
  const [, dbUrl] = running.stdout().match(/psql +psql '([^']+)'/)!;
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
  try {
    let queryDone = false;
    const query = sql`SELECT pg_sleep(3)`.then(() => queryDone = true);
    // The query has reached PGlite once the server reports it running (asked on the same, busy, database
    // would wait behind it): give it a moment, then ask the API.
    await new Promise((r) => setTimeout(r, 500));
    const health = await fetch(`${url}/health`);
    assert.equal(health.status, 200);
    assert.equal(
      queryDone,
      false,
      "/health answered while the 3 s query still ran (PGlite has its own thread)",
    );
    await query;
  } finally {
    await sql.end();
    await running.stop("SIGTERM", 0);
  }
});
