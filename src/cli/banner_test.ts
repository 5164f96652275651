import assert from "node:assert/strict";
import type { Runtime } from "../app.ts";
import { loadConfig } from "../config.ts";
import type { Mismatch } from "../db/schema_watch.ts";
import { createRegistry } from "../registry/load.ts";
import { createBanner, urlHost } from "./banner.ts";

Deno.test("urlHost() brackets IPv6 addresses and sends wildcard listeners to loopback", () => {
  assert.equal(urlHost("::1"), "[::1]");
  assert.equal(urlHost("fd00::2"), "[fd00::2]");
  assert.equal(urlHost("[::1]"), "[::1]");
  assert.equal(urlHost("::"), "127.0.0.1");
  assert.equal(urlHost("0.0.0.0"), "127.0.0.1");
  assert.equal(urlHost("localhost"), "localhost");
  assert.equal(new URL(`http://${urlHost("::1")}:8080/ready`).port, "8080", "a URL that parses");
});

const registry = createRegistry([
  { path: "r.yaml", text: "entity: { name: Reading, fields: [{ name: sensor }], persistence: {} }" },
  { path: "o.yaml", text: "entity: { name: Other, fields: [{ name: k }], persistence: {} }" },
]);
const problem =
  `entity "Reading", table "readings", column "value": the table has integer NOT NULL, the entity ` +
  `declares text (string) NOT NULL. Fix: ALTER TABLE "readings" ALTER COLUMN "value" TYPE text USING "value"::text;`;

/** What createBanner() reads of a started role, with `held` as its schema watch's mismatches. */
function runtime(held: Mismatch[]): Runtime {
  return {
    config: loadConfig(["--host=127.0.0.1"], {}),
    version: "1.2.3",
    server: { port: 8080 },
    embedded: {},
    registry,
    schema: { mismatches: () => held },
  } as unknown as Runtime;
}

Deno.test("createBanner() says ready only when every table matches; a held entity is named with its fix", () => {
  const ready = createBanner(runtime([]), 250);
  assert.match(ready, /^nomnom 1\.2\.3 is ready \(role all, 250 ms from start\)$/m);
  assert.match(ready, /Try it: post a Reading/);

  const held = createBanner(
    runtime([{ entity: "Reading", since: "2026-01-01T00:00:00Z", problems: [problem] }]),
    250,
  );
  assert.doesNotMatch(held, /is ready/);
  assert.match(held, /^nomnom 1\.2\.3 is up but NOT ready \(role all, 250 ms from start\)$/m);
  assert.match(
    held,
    /^Held: the messages of Reading wait in the stream .*http:\/\/127\.0\.0\.1:8080\/ready/m,
  );
  assert.ok(held.includes(`  - ${problem}`), held);
  assert.match(held, /Try it: post an Other/, "the example is one that flows");
});
