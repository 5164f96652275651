/**
 * The compiled binary (bun build --compile) on its own: copied to an empty directory it runs the demo on
 * embedded defaults, and as separate api and worker processes against the live NATS and PostgreSQL.
 */
import assert from "node:assert/strict";
import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { loadRegistry } from "../src/registry/load.ts";
import { createSampleMessage } from "../src/registry/sample.ts";
import { apiUrl, ROOT, runChild, startNomnom } from "./child.ts";
import { buildBunBinary } from "./bun_build.ts";
import { createTempDir, createTestEnv, post, TPCH, waitForStatus } from "./harness.ts";

Deno.test("the compiled binary runs the demo alone in an empty directory, and api + worker against live services", async () => {
  await using temp = await createTempDir("nomnom-binary-");
  const dir = temp.path;
  await using env = await createTestEnv();
  const binary = join(dir, "nomnom");
  await buildBunBinary(binary);

  // 1. Embedded defaults: no NATS_URL, no DATABASE_URL, no entities folder.
  {
    await using demo = startNomnom(["--port=0", "--shutdown-drain-ms=0"], { binary, cwd: dir });
    const api = await apiUrl(demo);
    assert.match(demo.stdout(), /data dir .*\.nomnom — embedded PostgreSQL \(PGlite\) and NATS/);
    // The template is inside the binary: the empty data dir was unpacked from it, not made by initdb.
    assert.match(demo.stderr(), /"embedded postgres ready".*"created":"template"/);
    const registry = await loadRegistry(join(ROOT, "entities"));
    // The README's curl posts entities/examples/order.json; the banner's curl a sample made from the entities.
    const example = JSON.parse(await readFile(join(ROOT, "entities/examples/order.json"), "utf8"));
    assert.equal((await post(`${api}/ingest/message/Order`, example)).status, 202);
    const sample = createSampleMessage(registry, registry.entities.get("Order")!);
    const accepted = await post(`${api}/ingest/message/Order`, sample);
    assert.equal(accepted.status, 202);
    await waitForStatus(api, accepted.body.message_id as string, "completed");
    assert.equal(
      (await fetch(`${api}/docs/assets/swagger-ui-bundle.js`)).status,
      200,
      "Swagger UI is inside",
    );
    // The dashboard is inside too, the committed bundle byte for byte, and its banner line points at it.
    const dashboard = demo.stdout().match(/dashboard +(http:\S+)/)?.[1];
    assert.equal(dashboard, `${api}/dashboard`);
    assert.match(await (await fetch(dashboard!)).text(), /dashboard\.js/);
    assert.equal(
      await (await fetch(`${api}/dashboard/assets/dashboard.js`)).text(),
      await readFile(join(ROOT, "src/dashboard/assets/dashboard.bundle.js"), "utf8"),
    );
    const events = await fetch(`${api}/dashboard/events`);
    assert.match(events.headers.get("content-type") ?? "", /text\/event-stream/);
    const feed = events.body!.pipeThrough(new TextDecoderStream()).getReader();
    assert.match((await feed.read()).value ?? "", /retry: 1000/);
    await feed.cancel();
    await demo.stop();
    assert.ok((await readdir(join(dir, ".nomnom"))).includes("pg"), "data in the data dir");
    const orphans = await runChild("pgrep", ["-f", `nats-serve[r] .*${dir}/.nomnom/nats`]);
    assert.equal(orphans.stdout.trim(), "", "no nats-server left behind");
  }

  // 2. Separate api and worker processes of the same binary on the live services, each in an empty working
  // dir with an empty HOME and TMPDIR: the Kubernetes pods run them on a read-only root with no writable volume.
  const scratch: Record<string, string> = {};
  for (const role of ["worker", "api"]) {
    for (const d of ["cwd", "home", "tmp"]) {
      scratch[`${role}-${d}`] = join(dir, `${role}-${d}`);
      await mkdir(scratch[`${role}-${d}`]);
    }
  }
  const split = (role: string) => ({
    binary,
    cwd: scratch[`${role}-cwd`],
    env: { HOME: scratch[`${role}-home`], TMPDIR: scratch[`${role}-tmp`] },
  });
  const worker = env.spawn("worker", [], split("worker"));
  const api = env.spawn("api", [], split("api"));
  const url = await apiUrl(api);
  // The image's HEALTHCHECK (no role): nothing on the API port, so it finds the worker on its ops port.
  const opsPort = (await worker.waitForLog(/"worker ops listening".*"url":"http:\/\/[^"]*:(\d+)"/))[1];
  await worker.waitForLog(/worker started/);
  const probe = await runChild(binary, ["healthcheck", "ready", "--port=1", `--ops-port=${opsPort}`]);
  assert.equal(probe.code, 0, probe.stdout + probe.stderr);
  const order = JSON.parse(await readFile(TPCH + "example_order.json", "utf8"));
  const r = await post(`${url}/ingest/message/Order`, order);
  assert.equal(r.status, 202);
  await waitForStatus(env.sql, r.body.message_id as string, "completed");
  const [{ items }] = await env.sql`SELECT count(*)::int AS items FROM order_line_items`;
  assert.equal(items, 2);
  await api.stop();
  await worker.stop();
  for (const [name, path] of Object.entries(scratch)) {
    assert.deepEqual(await readdir(path), [], `${name}: the split roles write no file`);
  }
});

Deno.test("the binary embeds exactly the example entities of entities/", async () => {
  const entry = await readFile(join(ROOT, "build/bun_main.ts"), "utf8");
  const embedded = [...entry.matchAll(/"\.\.\/entities\/([\w.]+)"/g)].map((m) => m[1]).sort();
  const onDisk = (await readdir(join(ROOT, "entities"))).filter((n) => /\.ya?ml$/.test(n)).sort();
  assert.deepEqual(embedded, onDisk);
});
