/**
 * The demo as a newcomer runs it: `deno task demo` in a terminal. Ctrl-C reaches nomnom through the process
 * group and again through a wrapper, and must still stop it gracefully; the banner's psql line works as
 * pasted; `nomnom migrate` and `nomnom dlq` find the running demo's services from its data dir; a port in use
 * is named with its flag before any slow start.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { runChild, runNomnom, spawnChild } from "./child.ts";
import { createTempDir } from "./harness.ts";

const NO_SERVICES = { NATS_URL: "", DATABASE_URL: "", NATS_URL_FILE: "", DATABASE_URL_FILE: "" };

Deno.test("the demo under `deno task demo`: links at /, psql line, dlq and migrate find it, one Ctrl-C delivered twice stops it gracefully", async () => {
  await using temp = await createTempDir("nomnom-demo-");
  const dataDir = temp.path;
  // Its own process group, as a terminal's foreground job: the terminal's SIGINT goes to the whole group.
  await using demo = spawnChild(process.execPath, ["task", "demo", "--port=0", `--data-dir=${dataDir}`], {
    detached: true,
    env: { ...NO_SERVICES, LOG_FORMAT: "json" },
  });
  try {
    const api = (await demo.waitForLog(/API +(http:\S+)/, { stream: "stdout", timeoutMs: 90_000 }))[1];
    // The bare URL a person opens first answers with where to go, and every plain link works.
    const index = await fetch(api);
    assert.equal(index.status, 200);
    const links = (await index.json()).links as Record<string, string>;
    for (const name of ["docs", "openapi", "health", "ready", "stats", "metrics", "dlq"]) {
      const r = await fetch(api + links[name]);
      await r.body?.cancel();
      assert.equal(r.status, 200, `${name}: ${links[name]}`);
    }
    const psql = demo.stdout().match(
      /psql +psql '(postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres\?sslmode=disable)'/,
    );
    assert.ok(psql, demo.output());
    const query = await runChild("psql", [psql[1], "-Atc", "SELECT count(*) FROM nomnom.messages"]);
    assert.equal(query.code, 0, query.stderr);
    assert.equal(query.stdout.trim(), "0");

    const migrate = await runNomnom(["migrate", `--data-dir=${dataDir}`], { env: NO_SERVICES });
    assert.equal(migrate.code, 0, migrate.stderr);
    assert.match(migrate.stdout, /schema is up to date/);
    const dlq = await runNomnom(["dlq", "list", `--data-dir=${dataDir}`], { env: NO_SERVICES });
    assert.equal(dlq.code, 0, dlq.stderr);
    assert.match(dlq.stdout, /the dead-letter queue has no matching message/);
    assert.match(dlq.stderr, /using the services of the demo running on the data dir/);

    // The terminal signals the group; a wrapper forwards the same SIGINT to nomnom a moment later. (Sent at
    // once, the kernel would merge the two into one pending signal: the copy is sent once the first was handled.)
    const pid = JSON.parse(await readFile(join(dataDir, "services.json"), "utf8")).pid as number;
    demo.signal("SIGINT", { group: true });
    await demo.waitForLog(/"msg":"stopping"/);
    process.kill(pid, "SIGINT");
    await demo.waitForLog(/"msg":"stopped"/, { timeoutMs: 60_000 });
    await demo.exited;
    assert.ok(!existsSync(join(dataDir, "nomnom.lock")), "the data dir's lock is released");
    assert.ok(!existsSync(join(dataDir, "services.json")), "the demo no longer advertises its services");
    const after = await runNomnom(["migrate", `--data-dir=${dataDir}`], { env: NO_SERVICES });
    assert.equal(after.code, 2);
    assert.match(after.stderr, /nomnom migrate needs --database-url \(DATABASE_URL\), or a demo running on/);
  } finally {
    // `deno task` runs nomnom as its child: the whole group goes, whatever failed.
    demo.signal("SIGKILL", { group: true });
  }
});

Deno.test("a port in use is named with the flag that changes it, before the embedded services start", async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen({ host: "127.0.0.1", port: 0 }, r));
  const port = (busy.address() as { port: number }).port;
  await using temp = await createTempDir("nomnom-demo-");
  try {
    const r = await runNomnom([`--port=${port}`, "--host=127.0.0.1", `--data-dir=${temp.path}`], {
      env: NO_SERVICES,
    });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr,
      `nomnom: Port ${port} on 127.0.0.1 is already in use: stop what holds it, or choose another port with ` +
        `--port=<port> (PORT).\n`,
    );
    assert.ok(!existsSync(join(temp.path, "pg")), "no embedded PostgreSQL was started");
  } finally {
    busy.close();
  }
});
