/**
 * One demo per data dir: PGlite and nats-server each assume they are the only writer of their files, and two
 * of them on the same dir corrupt it. The embedded start functions take `nomnom.lock` in the data dir (the
 * PID inside); a lock left by a process that no longer runs is taken over.
 */
import { link, mkdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import process from "node:process";

/** Thrown when another running nomnom holds the data dir; `pid` is that process. */
export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";
  constructor(readonly dir: string, readonly pid: number) {
    super(
      `The data dir ${dir} is in use by another nomnom (pid ${pid}): two demos on one data dir corrupt it. ` +
        `Stop that one, or give this one its own --data-dir (NOMNOM_DATA_DIR). If pid ${pid} is not nomnom, ` +
        `delete ${join(dir, LOCK_FILE)}.`,
    );
  }
}

const LOCK_FILE = "nomnom.lock";

/** Locks this process holds, by data dir: the embedded NATS and PostgreSQL of one demo share one. */
const held = new Map<string, { count: number; taken: Promise<void> }>();

/**
 * Take the data dir's lock (re-entrant within this process: each call needs its own release). Throws
 * DataDirLockedError when another live process holds it.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const dir = resolve(dataDir);
  const entry = held.get(dir) ??
    { count: 0, taken: mkdir(dir, { recursive: true }).then(() => acquire(dir)) };
  held.set(dir, entry);
  entry.count++;
  try {
    await entry.taken;
  } catch (error) {
    if (--entry.count === 0) held.delete(dir);
    throw error;
  }
  let done = false;
  return async () => {
    if (done) return;
    done = true;
    if (--entry.count > 0) return;
    held.delete(dir);
    await unlink(join(dir, LOCK_FILE)).catch(() => {});
  };
}

async function acquire(dir: string): Promise<void> {
  const lock = join(dir, LOCK_FILE);
  // Written aside and linked into place: link() fails if the lock exists, so creation is atomic and the
  // lock never exists without its PID.
  const mine = join(dir, `${LOCK_FILE}.${process.pid}`);
  await writeFile(mine, `${process.pid}\n`);
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await link(mine, lock);
        return;
      } catch (error) {
        if ((error as { code?: string }).code !== "EEXIST") throw error;
      }
      const owner = await readPid(lock);
      if (owner === undefined) continue; // released meanwhile
      // Our own PID but not in `held`: a lock left by an earlier process that had our PID (a container's PID 1).
      if (owner !== process.pid && isAlive(owner)) throw new DataDirLockedError(dir, owner);
      // Stale. Moved aside rather than deleted: if another process took it over first, the moved file holds
      // that process's PID and goes back.
      const aside = `${lock}.stale.${process.pid}`;
      await rename(lock, aside).catch(() => {});
      const moved = await readPid(aside);
      if (moved !== undefined && moved !== owner) {
        await rename(aside, lock);
        throw new DataDirLockedError(dir, moved);
      }
      await unlink(aside).catch(() => {});
    }
    const owner = await readPid(lock);
    throw new DataDirLockedError(dir, owner ?? NaN);
  } finally {
    await unlink(mine).catch(() => {});
  }
}

async function readPid(path: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(path, "utf8")).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : 0;
  } catch {
    return undefined;
  }
}

/** Whether a process with this pid runs (someone else's counts). */
export function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it is just someone else's.
    return (error as { code?: string }).code === "EPERM";
  }
}

const SERVICES_FILE = "services.json";

/** The embedded services of a running demo, as it writes them into its data dir for `nomnom dlq` and `migrate`. */
export type DemoServices = { pid: number; natsUrl?: string; databaseUrl?: string };

/**
 * Write `services.json` into the data dir (aside, then renamed: a reader never sees half a file); returns its
 * removal. The URLs are loopback addresses without passwords.
 */
export async function writeDemoServices(
  dataDir: string,
  services: Omit<DemoServices, "pid">,
): Promise<() => Promise<void>> {
  const path = join(resolve(dataDir), SERVICES_FILE);
  const aside = `${path}.${process.pid}`;
  await writeFile(aside, JSON.stringify({ pid: process.pid, ...services }) + "\n");
  await rename(aside, path);
  return () => unlink(path).catch(() => {});
}

/** The services of the demo running on this data dir; undefined when none runs (no file, or its pid is gone). */
export async function readDemoServices(
  dataDir: string,
): Promise<(DemoServices & { path: string }) | undefined> {
  const path = join(resolve(dataDir), SERVICES_FILE);
  let services: DemoServices;
  try {
    services = JSON.parse(await readFile(path, "utf8"));
  } catch {
    return undefined;
  }
  return Number.isInteger(services.pid) && isAlive(services.pid) ? { ...services, path } : undefined;
}
