/**
 * What the process prints once it is ready (stdout, for people): where the API, the docs and the data are,
 * and a curl that works as pasted.
 */
import { resolve } from "node:path";
import type { Runtime } from "../app.ts";
import { urlScheme } from "../api/server_tls.ts";
import { createSampleMessage } from "../registry/sample.ts";

/**
 * The banner of an api or all process once it has started. An entity whose table does not match is named here
 * too: /ready is 503 for it, and a person reading only the banner must not be told the pipeline is ready.
 */
export function createBanner(rt: Runtime, readyMs: number): string {
  const base = `${urlScheme(rt.config)}://${urlHost(rt.config.http.host)}:${rt.server!.port}`;
  const held = rt.schema?.mismatches() ?? [];
  const heldNames = held.map((m) => m.entity);
  const state = held.length === 0 ? "is ready" : "is up but NOT ready";
  const lines = [
    `nomnom ${rt.version} ${state} (role ${rt.config.role}, ${readyMs} ms from start)`,
    `  API        ${base}`,
    `  API docs   ${base}/docs`,
    `  dashboard  ${base}/dashboard`,
    `  stats      ${base}/stats   metrics ${base}/metrics`,
  ];
  const embedded = [
    rt.embedded.postgres && "PostgreSQL (PGlite)",
    rt.embedded.nats && `NATS (${rt.embedded.nats})`,
  ]
    .filter(Boolean);
  if (embedded.length > 0) {
    lines.push(`  data dir   ${resolve(rt.config.dataDir)} — embedded ${embedded.join(" and ")}`);
  }
  // pglite-socket speaks no TLS: psql must not try it first.
  if (rt.embedded.postgres) lines.push(`  psql       psql '${withSslDisabled(rt.embedded.postgres)}'`);
  if (held.length > 0) {
    lines.push(
      "",
      `Held: the messages of ${
        heldNames.join(", ")
      } wait in the stream until the table matches the entity (${base}/ready):`,
      ...held.flatMap((m) => m.problems.map((p) => `  - ${p}`)),
    );
  }
  const flowing = rt.registry.ingestible.filter((e) => !heldNames.includes(e.name));
  const entity = flowing.find((e) => e.children.length > 0) ?? flowing[0];
  if (entity) {
    const sample = JSON.stringify(createSampleMessage(rt.registry, entity)).replaceAll("'", "'\\''");
    lines.push(
      "",
      `Try it: post ${/^[aeiou]/i.test(entity.name) ? "an" : "a"} ${entity.name}, then ask where it is:`,
      `  curl -s ${base}/ingest/message/${entity.name} -H 'content-type: application/json' -d '${sample}'`,
      `  curl -s ${base}/ingest/status/<message_id from the answer>`,
    );
  }
  return lines.join("\n");
}

/** The host part of a URL to reach `host`: a wildcard address becomes loopback, an IPv6 address goes in brackets. */
export function urlHost(host: string): string {
  if (["0.0.0.0", "::", "[::]"].includes(host)) return "127.0.0.1";
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/** A PostgreSQL URL that tells libpq clients not to ask for TLS. */
function withSslDisabled(url: string): string {
  const u = new URL(url);
  u.searchParams.set("sslmode", "disable");
  return u.toString();
}
