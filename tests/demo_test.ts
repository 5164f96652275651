/**
 * The demo as a newcomer runs it: `deno task demo` in a terminal. Ctrl-C reaches nomnom through the process
 * group and again through the task runner, and must still stop it gracefully; the banner's psql line works as
 * pasted; `nomnom migrate` and `nomnom dlq` find the running demo's services from its data dir; a port in use
 * is named with its flag before any slow start.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { waitFor } from "./harness.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const NO_SERVICES = { NATS_URL: "", DATABASE_URL: "", NATS_URL_FILE: "", DATABASE_URL_FILE: "" };

function run(command: string, args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(
      command,
      args,
      { cwd: ROOT, env: { ...process.env, ...NO_SERVICES, ...env } },
      (error, stdout, stderr) =>
        resolve({ code: error ? (error as { code?: number }).code ?? 1 : 0, stdout, stderr }),
    )
  );
}

const nomnom = (args: string[]) => run(process.execPath, ["run", "-A", join(ROOT, "main.ts"), ...args]);

Deno.test("the demo under `deno task demo`: psql line, dlq and migrate find it, one Ctrl-C delivered twice stops it gracefully", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "nomnom-demo-"));
  // Its own process group, as a terminal's foreground job: the terminal's SIGINT goes to the whole group.
  const child: ChildProcess = spawn(process.execPath, ["task", "demo", "--port=0", `--data-dir=${dataDir}`], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...NO_SERVICES },
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (c) => out += c);
  child.stderr!.on("data", (c) => err += c);
  const exited = new Promise<number | string | null>((r) =>
    child.once("exit", (code, signal) => r(code ?? signal))
  );
  try {
    await Promise.race([
      waitFor("the banner", () => /API +http:/.test(out), 90_000),
      exited.then((code) => assert.fail(`the demo exited (${code}) before its banner:\n${err}`)),
    ]);
    const psql = out.match(
      /psql +psql '(postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres\?sslmode=disable)'/,
    );
    assert.ok(psql, out);
    const query = await run("psql", [psql[1], "-Atc", "SELECT count(*) FROM nomnom.messages"]);
    assert.equal(query.code, 0, query.stderr);
    assert.equal(query.stdout.trim(), "0");

    const migrate = await nomnom(["migrate", `--data-dir=${dataDir}`]);
    assert.equal(migrate.code, 0, migrate.stderr);
    assert.match(migrate.stdout, /schema is up to date/);
    const dlq = await nomnom(["dlq", "list", `--data-dir=${dataDir}`]);
    assert.equal(dlq.code, 0, dlq.stderr);
    assert.match(dlq.stdout, /the dead-letter queue has no matching message/);
    assert.match(dlq.stderr, /using the services of the demo running on the data dir/);

    // The terminal signals the group; a wrapper forwards the same SIGINT to nomnom a moment later.
    const pid = JSON.parse(await readFile(join(dataDir, "services.json"), "utf8")).pid as number;
    // (Two signals sent together would be merged by the kernel into one pending signal: the second one is sent
    // once the first has been handled, as a forwarded copy arrives, within the same press.)
    process.kill(-child.pid!, "SIGINT");
    await waitFor("the graceful stop begins", () => /"msg":"stopping"/.test(err));
    process.kill(pid, "SIGINT");
    await waitFor("nomnom stopped", () => /"msg":"stopped"/.test(err) || exited.then(() => true), 60_000);
    await exited;
    assert.match(err, /"msg":"stopped"/, "the graceful stop ran to its end");
    assert.ok(!existsSync(join(dataDir, "nomnom.lock")), "the data dir's lock is released");
    assert.ok(!existsSync(join(dataDir, "services.json")), "the demo no longer advertises its services");
    const after = await nomnom(["migrate", `--data-dir=${dataDir}`]);
    assert.equal(after.code, 2);
    assert.match(after.stderr, /nomnom migrate needs --database-url \(DATABASE_URL\), or a demo running on/);
  } finally {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, "SIGKILL");
    await rm(dataDir, { recursive: true, force: true });
  }
});

Deno.test("a port in use is named with the flag that changes it, before the embedded services start", async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen({ host: "127.0.0.1", port: 0 }, r));
  const port = (busy.address() as { port: number }).port;
  const dataDir = await mkdtemp(join(tmpdir(), "nomnom-demo-"));
  try {
    const r = await nomnom([`--port=${port}`, "--host=127.0.0.1", `--data-dir=${dataDir}`]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr,
      `nomnom: Port ${port} on 127.0.0.1 is already in use: stop what holds it, or choose another port with ` +
        `--port=<port> (PORT).\n`,
    );
    assert.ok(!existsSync(join(dataDir, "pg")), "no embedded PostgreSQL was started");
  } finally {
    busy.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
