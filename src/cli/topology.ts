/** `nomnom topology`: the streams, subjects and consumer every role will ensure (computed, nothing created). */
import type { Config } from "../config.ts";
import type { Registry } from "../registry/types.ts";
import { natsPermissions } from "../stream/permissions.ts";
import { createTopology } from "../stream/topology.ts";
import { defineCommand, loadEntities } from "./command.ts";

/** The `topology` command. */
export const topologyCommand = defineCommand({
  name: "topology",
  usage: "topology",
  summary:
    "print the streams, subjects, consumer and NATS permissions the roles use (computed, nothing is created)",
  settings: [
    "entities",
    "namespace",
    "max-message-bytes",
    "stream-max-bytes",
    "dlq-max-bytes",
    "stream-replicas",
    "duplicate-window-ms",
    "max-ack-pending",
    "ack-wait-ms",
    "max-deliver",
  ],
  async run({ config, out }) {
    return printTopology(await loadEntities(config.entitiesDir), config, out);
  },
});

/** Print the topology of `registry` under `config`. */
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
  // What a nats-server with one user per role must allow (README "Security"): see src/stream/permissions.ts.
  for (const [role, p] of Object.entries(natsPermissions(t))) {
    out(`nats user of the ${role} role: publish ${p.publish.join(" ")}; subscribe ${p.subscribe.join(" ")}`);
  }
  return 0;
}
