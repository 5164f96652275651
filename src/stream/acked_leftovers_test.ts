import assert from "node:assert/strict";
import { loadConfig } from "../config.ts";
import { createRegistry } from "../registry/load.ts";
import { refuseLeftoverPurge } from "./acked_leftovers.ts";
import { createTopology } from "./topology.ts";

const registry = createRegistry([{
  path: "o.yaml",
  text:
    "entity: { name: Order, fields: [{ name: order_id }], persistence: { database: { unicity_fields: [order_id] } } }",
}]);
const topology = createTopology(loadConfig(["--namespace=ns"], {}), registry);
const ours = { filter_subject: "ns.ingest.>", delivered_stream_seq: 90 };

Deno.test("refuseLeftoverPurge() allows a purge below the floor only of a stream our consumer alone reads whole", () => {
  assert.equal(refuseLeftoverPurge({ consumer_count: 1, last_seq: 100 }, ours, topology), undefined);
  assert.match(
    refuseLeftoverPurge({ consumer_count: 2, last_seq: 100 }, ours, topology) ?? "",
    /"ns_ingest" has 2 consumers/,
  );
  assert.match(
    refuseLeftoverPurge(
      { consumer_count: 1, last_seq: 100 },
      { ...ours, filter_subject: "ns.ingest.Order.*" },
      topology,
    ) ?? "",
    /filters "ns.ingest.Order.\*"/,
  );
});

Deno.test("refuseLeftoverPurge() refuses when the stream's sequence went back behind what the consumer saw", () => {
  // Sequences at or below the floor could then be new messages, never delivered.
  assert.match(
    refuseLeftoverPurge({ consumer_count: 1, last_seq: 80 }, ours, topology) ?? "",
    /delivered up to sequence 90, beyond the stream's last 80/,
  );
});
