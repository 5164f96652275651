import assert from "node:assert/strict";
import { parse } from "yaml";
import { loadConfig } from "../config.ts";
import { createRegistry } from "../registry/load.ts";
import { secretFiles } from "./objects.ts";
import { overlaySettings, renderKubernetes } from "./render.ts";

const entity =
  "entity: { name: Order, fields: [{ name: order_id }], persistence: { database: { unicity_fields: [order_id] } } }";
const registry = createRegistry([{ path: "order.yaml", text: entity }]);

Deno.test("overlaySettings() carries the configured settings, never a secret, and the overlay's own replicas and NATS_URL", () => {
  const config = loadConfig(
    [
      "--batch-size=1000",
      "--log-level=debug",
      "--database-url=postgres://u:pgS3cret@db/x",
      "--nats-password=natsS3cret",
      "--role=api",
    ],
    {},
  );
  const prod = overlaySettings(config, "prod");
  assert.equal(prod.NOMNOM_BATCH_SIZE, "1000");
  assert.equal(prod.LOG_LEVEL, "debug");
  assert.equal(prod.NOMNOM_STREAM_REPLICAS, "3");
  assert.equal(prod.NATS_URL.split(",").length, 3);
  assert.equal(prod.PORT, "8080", "pinned at its default: the manifests are computed from it");
  assert.ok(!("DATABASE_URL" in prod) && !("NOMNOM_ROLE" in prod));
  assert.ok(!/pgS3cret|natsS3cret/.test(JSON.stringify(prod)));
  assert.equal(
    prod.NOMNOM_NATS_CA_FILE,
    "/var/run/secrets/nomnom/nats/ca.crt",
    "prod's NATS needs mutual TLS",
  );
  assert.ok(!("NOMNOM_NATS_CA_FILE" in overlaySettings(config, "dev")));
  assert.equal(overlaySettings(config, "dev").NOMNOM_STREAM_REPLICAS, "1");
});

Deno.test("renderKubernetes() computes what depends on a setting from it: KEDA's lag threshold and the worker ceiling", () => {
  const render = (argv: string[]) =>
    renderKubernetes({
      config: loadConfig(argv, {}),
      registry,
      entities: [{ name: "order.yaml", text: entity }],
      version: "1.2.3",
    });
  const scaledObject = (
    files: Map<string, string>,
  ) => (files.get("base/worker.yaml")!.split("\n---\n").map((d) => parse(d)).find((o) =>
    o.kind === "ScaledObject"
  ));
  const a = scaledObject(render([]));
  const b = scaledObject(render(["--batch-size=100", "--namespace=shop"]));
  assert.equal(a.spec.triggers[0].metadata.lagThreshold, "5000");
  assert.equal(b.spec.triggers[0].metadata.lagThreshold, "1000");
  assert.equal(b.spec.triggers[0].metadata.stream, "shop_ingest");
  assert.equal(b.spec.triggers[0].metadata.consumer, "shop_worker");
  assert.equal(b.spec.maxReplicaCount, 20, "capped: 20000 / (2 × 100) = 100 would be too many pods to start");
});

Deno.test("secretFiles() mounts a Secret as files in one call, and refuses a key it does not mount", () => {
  const tls = secretFiles("tls", "nomnom-tls", "/var/run/secrets/nomnom/tls", ["tls.crt", "tls.key"]);
  assert.equal(tls.path("tls.key"), "/var/run/secrets/nomnom/tls/tls.key");
  assert.deepEqual(tls.mount, { name: "tls", mountPath: "/var/run/secrets/nomnom/tls", readOnly: true });
  assert.equal(tls.volume.secret?.secretName, "nomnom-tls");
  assert.throws(() => tls.path("ca.crt"), /without key "ca.crt"/);
});
