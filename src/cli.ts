/**
 * The subcommands besides `run`: `validate`, `topology` and `migrate`. They print for people (stdout) and
 * return an exit code.
 */
import type { Config } from "./config.ts";
import { connectDatabase } from "./db/connect.ts";
import { migrate } from "./db/migrate.ts";
import { PG_TYPES } from "./registry/field_types.ts";
import type { Logger } from "./log.ts";
import type { Registry } from "./registry/types.ts";
import { createTopology } from "./stream/topology.ts";

/** `nomnom validate`: what the entities define (the registry already loaded, so they are valid). */
export function printRegistry(registry: Registry, config: Config, out: (line: string) => void): number {
  const topology = createTopology(config, registry);
  out(`${registry.entities.size} entities from ${config.entitiesDir}:`);
  for (const e of registry.entities.values()) {
    const from = e.repeatedFor
      ? ` — one per ${e.repeatedFor.entity}.${e.repeatedFor.field}[]`
      : e.parent
      ? ` — one per ${e.parent}`
      : "";
    out(`  ${e.name} (${e.kind}${from})`);
    if (e.storage) {
      const s = e.storage;
      out(`    table ${s.table}: ${s.columns.map((c) => `${c.name} ${PG_TYPES[c.type]}`).join(", ")}`);
      out(
        `    unique key (${s.key.join(", ")})${s.naturalKey ? "" : " — no unicity_fields: keyed by message"}`,
      );
    } else out(`    not stored (no persistence)`);
    if (e.kind !== "derived") out(`    subject ${topology.ingestSubject(e.name, "<message id>")}`);
  }
  return 0;
}

/** `nomnom topology`: the streams, subjects and consumer every role will ensure. */
export function printTopology(registry: Registry, config: Config, out: (line: string) => void): number {
  const t = createTopology(config, registry);
  for (const s of t.streams) {
    out(
      `stream ${s.name}: subjects ${
        s.subjects!.join(", ")
      }; ${s.retention} retention, ${s.storage} storage, ` +
        `max_bytes ${s.max_bytes}, discard ${s.discard}, replicas ${s.num_replicas}`,
    );
  }
  const c = t.consumer;
  out(
    `consumer ${c.durable_name} on ${c.stream}: pull, ack ${c.ack_policy}, ack_wait ${c.ack_wait! / 1e9}s, ` +
      `max_deliver ${c.max_deliver}, max_ack_pending ${c.max_ack_pending}`,
  );
  for (const r of t.routes) out(`entity ${r.entity}: ingest ${r.ingest}, dead letters ${r.dlq}`);
  return 0;
}

/** `nomnom migrate`: create or upgrade the tables, print what changed. */
export async function runMigrate(
  registry: Registry,
  config: Config,
  log: Logger,
  out: (line: string) => void,
): Promise<number> {
  const sql = await connectDatabase(config.databaseUrl!, 1, log);
  try {
    const changes = await migrate(sql, registry, log);
    out(changes.length === 0 ? "schema is up to date" : changes.join("\n"));
    return 0;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * `nomnom healthcheck [ready]`: 0 when the local process answers 200 (for container HEALTHCHECKs). With
 * --role=api the API port, with --role=worker the ops port; otherwise (the image's one HEALTHCHECK line, whatever
 * role the container runs) the API port, then the ops port.
 */
export async function runHealthcheck(config: Config, out: (line: string) => void): Promise<number> {
  const ports = config.role === "worker"
    ? [config.opsPort]
    : config.role === "api"
    ? [config.http.port]
    : [config.http.port, config.opsPort];
  const answers: string[] = [];
  for (const port of ports) {
    const url = `http://127.0.0.1:${port}/${config.healthcheck ?? "health"}`;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
      out(`${url}: ${response.status} ${await response.text()}`);
      return response.status === 200 ? 0 : 1;
    } catch (error) {
      answers.push(`${url}: ${(error as Error).message}`);
    }
  }
  answers.forEach(out);
  return 1;
}
