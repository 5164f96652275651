/**
 * API keys: the file `--api-keys-file` names (a YAML or JSON list of `{name, key | key_sha256, scopes}`), kept
 * as SHA-256 digests only and compared in constant time. The file is re-read when its mtime changes, so a
 * rotated Kubernetes Secret takes effect without a restart; a broken new file keeps the old keys.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Registry } from "../registry/types.ts";

/** A scope a key may hold: `ingest` (every entity), `ingest:<Entity>`, `read` or `dlq`. */
export type Scope = string;

/** One key as held in memory: its name (what logs show) and the digest of the key, never the key. */
export type ApiKey = { name: string; digest: Buffer; scopes: ReadonlySet<Scope> };

/** The keys in force; `find` answers which key a presented secret is, or undefined. */
export type ApiKeys = { find(presented: string): ApiKey | undefined; stop(): void };

const BASE_SCOPES = new Set(["ingest", "read", "dlq"]);
const SHA256_HEX = /^[0-9a-f]{64}$/i;

const digestOf = (key: string) => createHash("sha256").update(key, "utf8").digest();

/** Parse the file's text into keys; throws a ConfigError naming the file and the entry at fault. Pure. */
export function parseApiKeys(text: string, file: string, registry: Registry): ApiKey[] {
  const fail = (what: string) => new ConfigError(`API keys file "${file}": ${what}.`);
  let list: unknown;
  try {
    list = parseYaml(text); // JSON is YAML too
  } catch (error) {
    throw fail(`not YAML or JSON (${(error as Error).message.split("\n")[0]})`);
  }
  if (!Array.isArray(list) || list.length === 0) {
    throw fail("must be a non-empty list of {name, key | key_sha256, scopes}");
  }
  const names = new Set<string>();
  return list.map((entry, index) => {
    const at = `entry ${index + 1}`;
    if (typeof entry !== "object" || entry === null) {
      throw fail(`${at} must be {name, key | key_sha256, scopes}`);
    }
    const { name, key, key_sha256: hash, scopes, ...rest } = entry as Record<string, unknown>;
    if (typeof name !== "string" || name.trim() === "") throw fail(`${at} needs a "name"`);
    const where = `${at} ("${name}")`;
    const unknown = Object.keys(rest);
    if (unknown.length) throw fail(`${where} has unknown field "${unknown[0]}"`);
    if (names.has(name)) throw fail(`${where}: the name is used twice`);
    names.add(name);
    if ((key === undefined) === (hash === undefined)) {
      throw fail(`${where} needs exactly one of "key" and "key_sha256"`);
    }
    if (key !== undefined && (typeof key !== "string" || key.length < 16)) {
      throw fail(`${where}: "key" must be a string of at least 16 characters`);
    }
    if (hash !== undefined && (typeof hash !== "string" || !SHA256_HEX.test(hash))) {
      throw fail(`${where}: "key_sha256" must be 64 hex digits (sha256sum of the key)`);
    }
    if (!Array.isArray(scopes) || scopes.length === 0) throw fail(`${where} needs a non-empty "scopes" list`);
    for (const scope of scopes) checkScope(scope, registry, (what) => fail(`${where}: ${what}`));
    const digest = key !== undefined ? digestOf(key as string) : Buffer.from(hash as string, "hex");
    return { name, digest, scopes: new Set(scopes as string[]) };
  });
}

function checkScope(scope: unknown, registry: Registry, fail: (what: string) => Error): void {
  if (typeof scope === "string" && BASE_SCOPES.has(scope)) return;
  const entity = typeof scope === "string" && scope.startsWith("ingest:") ? scope.slice(7) : undefined;
  if (entity === undefined) {
    throw fail(`unknown scope ${JSON.stringify(scope)}: use ingest, ingest:<Entity>, read or dlq`);
  }
  const found = registry.entities.get(entity);
  if (!found || found.kind === "derived") {
    const known = [...registry.entities.values()].filter((e) => e.kind !== "derived").map((e) => e.name);
    throw fail(`scope "${scope}" names no ingestible entity (known: ${known.join(", ")})`);
  }
}

/** Whether `key` is the presented secret: digests compared in constant time (same length by construction). */
export function matches(key: ApiKey, presented: string): boolean {
  return timingSafeEqual(key.digest, digestOf(presented));
}

/** Load the keys file (ConfigError at start when it is bad) and re-read it whenever its mtime changes. */
export function loadApiKeys(file: string, registry: Registry, log: Logger, pollMs = 1_000): ApiKeys {
  const read = () => {
    try {
      return {
        mtime: statSync(file).mtimeMs,
        keys: parseApiKeys(readFileSync(file, "utf8"), file, registry),
      };
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      const code = (error as { code?: string }).code ?? (error as Error).name;
      throw new ConfigError(`Cannot read API keys file "${file}" (${code}): --api-keys-file must name it.`);
    }
  };
  let current = read();
  log.info("API keys loaded", { file, keys: current.keys.map((k) => k.name) });
  const timer = setInterval(() => {
    let mtime: number;
    try {
      mtime = statSync(file).mtimeMs;
    } catch {
      mtime = NaN; // missing for a moment (a Secret's symlink swap): read() reports it if it stays so
    }
    if (mtime === current.mtime) return;
    try {
      current = read();
      log.info("API keys reloaded", { file, keys: current.keys.map((k) => k.name) });
    } catch (error) {
      current = { ...current, mtime }; // report a broken file once, not once a poll
      log.error("API keys file not reloaded: the previous keys stay in force", {
        file,
        problem: (error as Error).message,
      });
    }
  }, pollMs);
  (timer as { unref?: () => void }).unref?.();
  return {
    // Every key is compared, so the time taken does not tell which one (or whether any) matched.
    find(presented) {
      let found: ApiKey | undefined;
      for (const key of current.keys) if (matches(key, presented) && !found) found = key;
      return found;
    },
    stop: () => clearInterval(timer),
  };
}
