import assert from "node:assert/strict";
import { viewCluster } from "./ensure.ts";

Deno.test("viewCluster() knows a lone server for sure, and counts a cluster's advertised servers as a lower bound", () => {
  assert.deepEqual(viewCluster({}), { clustered: false, seen: 1 });
  assert.deepEqual(viewCluster({ cluster: "c", connect_urls: ["a:4222", "b:4222", "c:4222"] }), {
    clustered: true,
    seen: 3,
  });
  assert.deepEqual(viewCluster({ cluster: "c" }), { clustered: true, seen: 1 }, "no_advertise: size unknown");
  assert.deepEqual(viewCluster(undefined), { clustered: true, seen: 1 }, "no INFO: refuse nothing up front");
});
