import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { DataDirLockedError, lockDataDir } from "./data_dir.ts";

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await mkdtemp(join(tmpdir(), "nomnom-lock-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

Deno.test("lockDataDir() writes this process's pid and removes the lock on the last release", () =>
  withDir(async (dir) => {
    const releaseNats = await lockDataDir(dir);
    const releasePostgres = await lockDataDir(dir); // the demo's NATS and PostgreSQL share the lock
    assert.equal((await readFile(join(dir, "nomnom.lock"), "utf8")).trim(), String(process.pid));
    await releaseNats();
    await releaseNats(); // releasing twice does not release the other holder's share
    assert.ok(existsSync(join(dir, "nomnom.lock")), "still held by the second holder");
    await releasePostgres();
    assert.ok(!existsSync(join(dir, "nomnom.lock")));
    const again = await lockDataDir(dir);
    await again();
  }));

Deno.test("lockDataDir() refuses a data dir another live process holds, naming the dir and its pid", () =>
  withDir(async (dir) => {
    const other = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      await writeFile(join(dir, "nomnom.lock"), `${other.pid}\n`);
      await assert.rejects(lockDataDir(dir), (error: Error) => {
        assert.ok(error instanceof DataDirLockedError);
        assert.equal(error.pid, other.pid);
        assert.match(
          error.message,
          new RegExp(`data dir ${dir} is in use by another nomnom \\(pid ${other.pid}\\)`),
        );
        return true;
      });
      assert.equal(
        (await readFile(join(dir, "nomnom.lock"), "utf8")).trim(),
        String(other.pid),
        "left alone",
      );
    } finally {
      other.kill();
    }
  }));

Deno.test("lockDataDir() takes over a lock left by a process that no longer runs", () =>
  withDir(async (dir) => {
    const gone = spawnSync("true").pid;
    await writeFile(join(dir, "nomnom.lock"), `${gone}\n`);
    const release = await lockDataDir(dir);
    assert.equal((await readFile(join(dir, "nomnom.lock"), "utf8")).trim(), String(process.pid));
    await release();
  }));
