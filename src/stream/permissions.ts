/**
 * The NATS permissions each role needs, computed from the topology like every other name (pure): a nats-server
 * with one user per role, each allowed only these subjects, lets nomnom work and keeps anyone else — another
 * application's user, a leaked role credential used for something else — from publishing to nomnom's ingest
 * subjects (which would write straight into the tables) or touching its streams. Printed by `nomnom topology`;
 * tests/nats_pipeline_tls_test.ts runs the pipeline under exactly these permissions.
 */
import type { Topology } from "./topology.ts";

/** What one NATS user may publish and subscribe to. */
export type NatsPermission = { publish: string[]; subscribe: string[] };

/** Per role: `api` (also `nomnom dlq`), `worker`; `all` needs both. */
export type NatsPermissions = { api: NatsPermission; worker: NatsPermission };

/** The subjects each role publishes and subscribes to (JetStream API requests only for nomnom's streams). */
export function natsPermissions(topology: Topology): NatsPermissions {
  const ingest = topology.ingest.name;
  const dlq = topology.dlq.name;
  const durable = topology.consumer.durable_name!;
  // JetStream's API is request/reply on $JS.API.<verb>.<stream>[.<consumer>]; replies come to the _INBOX.
  const jetstream = [
    "$JS.API.INFO",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.LIST",
    ...[ingest, dlq].flatMap((s) => [
      `$JS.API.STREAM.*.${s}`,
      `$JS.API.STREAM.MSG.*.${s}`,
      `$JS.API.DIRECT.GET.${s}`,
      `$JS.API.DIRECT.GET.${s}.>`,
      `$JS.API.CONSUMER.*.${s}`,
      `$JS.API.CONSUMER.*.${s}.>`,
      `$JS.API.CONSUMER.*.*.${s}.>`,
    ]),
  ];
  const root = (stream: { subjects?: string[] }) => stream.subjects!;
  return {
    api: {
      // Ingest and replay publish to the ingest subjects; a replay copies back from the dead-letter stream.
      publish: [...root(topology.ingest), ...jetstream, topology.presenceSubject],
      subscribe: ["_INBOX.>"],
    },
    worker: {
      // Acks go to the consumer's $JS.ACK subjects; dead letters are published; presence answers go to an inbox.
      publish: [
        ...root(topology.dlq),
        ...jetstream,
        `$JS.ACK.${ingest}.${durable}.>`,
        "_INBOX.>",
      ],
      subscribe: ["_INBOX.>", topology.presenceSubject],
    },
  };
}

/** One `users` entry of a nats-server `authorization` block (the password is a placeholder in the output). */
export function renderNatsUser(user: string, password: string, permission: NatsPermission): string {
  const list = (subjects: string[]) => `[${subjects.map((s) => JSON.stringify(s)).join(", ")}]`;
  return `{ user: ${JSON.stringify(user)}, password: ${JSON.stringify(password)}, permissions: { ` +
    `publish: { allow: ${list(permission.publish)} }, subscribe: { allow: ${
      list(permission.subscribe)
    } } } }`;
}
