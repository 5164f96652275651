import assert from "node:assert/strict";
import { ConfigError } from "./errors.ts";
import { loadConfig } from "./config.ts";

Deno.test("loadConfig() prefers flags over env over defaults", () => {
  const defaults = loadConfig([], {}).config!;
  assert.equal(defaults.role, "all");
  assert.equal(defaults.http.port, 8080);
  const urls = { NATS_URL: "nats://n:4222", DATABASE_URL: "postgres://p/db" };
  const fromEnv = loadConfig([], { ...urls, PORT: "9000", NOMNOM_ROLE: "worker" }).config!;
  assert.equal(fromEnv.http.port, 9000);
  assert.equal(fromEnv.role, "worker");
  const fromFlag = loadConfig(["--port", "9100", "--role=api"], {
    ...urls,
    PORT: "9000",
    NOMNOM_ROLE: "worker",
  })
    .config!;
  assert.equal(fromFlag.http.port, 9100);
  assert.equal(fromFlag.role, "api");
});

Deno.test("loadConfig() rejects a bad value in one line naming the flag or the env variable", () => {
  assert.throws(
    () => loadConfig(["--batch-size=ten"], {}),
    (e: Error) => e instanceof ConfigError && /--batch-size="ten": must be a whole number/.test(e.message),
  );
  assert.throws(() => loadConfig([], { NOMNOM_BATCH_SIZE: "ten" }), /NOMNOM_BATCH_SIZE \(env\)/);
  assert.throws(() => loadConfig(["--role=both"], {}), /--role/);
  assert.throws(() => loadConfig(["--namespace=Bad.Name"], {}), /--namespace/);
  assert.throws(() => loadConfig(["--colour=red"], {}), (e: Error) => e instanceof ConfigError);
  assert.throws(() => loadConfig(["frobnicate"], {}), /Unknown command "frobnicate"/);
});

Deno.test("loadConfig() takes whole numbers as digits only: empty, exponent, hex or out-of-range values are errors", () => {
  for (const bad of ["", "1e3", "0x50", " 80", "8.5", "-1", "70000"]) {
    assert.throws(() => loadConfig([`--port=${bad}`], {}), /--port=/, `--port=${JSON.stringify(bad)}`);
  }
  assert.throws(() => loadConfig(["--retry-budget-ms="], {}), /--retry-budget-ms="": must be a whole number/);
  assert.equal(loadConfig(["--port=0"], {}).config!.http.port, 0);
});

Deno.test("loadConfig() returns help for --help on each command", () => {
  assert.match(loadConfig(["--help"], {}).help!, /--nats-url <value>.*NATS_URL/);
  assert.match(loadConfig(["migrate", "--help"], {}).help!, /Create or upgrade the tables/);
});

Deno.test("loadConfig() runs role all on embedded services, and asks api and worker roles for real ones", () => {
  const demo = loadConfig([], {}).config!;
  assert.equal(demo.natsUrl, undefined);
  assert.equal(demo.databaseUrl, undefined);
  assert.throws(() => loadConfig(["--role=api"], {}), /--role=api needs --nats-url \(NATS_URL\)/);
  assert.throws(() => loadConfig(["--role=worker", "--nats-url=nats://x"], {}), /needs --database-url/);
  assert.throws(() => loadConfig(["migrate"], {}), /nomnom migrate needs --database-url/);
});

Deno.test("loadConfig() reads the log format from --log-format or LOG_FORMAT, and leaves it unset by default", () => {
  assert.equal(loadConfig([], {}).config!.logFormat, undefined);
  assert.equal(loadConfig([], { LOG_FORMAT: "json" }).config!.logFormat, "json");
  assert.equal(loadConfig(["--log-format=pretty"], { LOG_FORMAT: "json" }).config!.logFormat, "pretty");
  assert.throws(() => loadConfig(["--log-format=xml"], {}), /--log-format="xml"/);
});

Deno.test("loadConfig() rejects an invalid NATS or PostgreSQL URL in one line that does not echo the password", () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [["--database-url=postgres://u:hunter2@[bad/db"], {}, /^Invalid --database-url: must be a URL/],
    [[], { DATABASE_URL: "postgres://u:hunter2@[bad/db" }, /^Invalid DATABASE_URL \(env\): must be a URL/],
    [["--nats-url=nats://u:hunter2@h:4222,http://u:hunter2@x"], {}, /^Invalid --nats-url: must be nats:\/\//],
    [[], { NATS_URL: "nats://u:hunter2@[bad" }, /^Invalid NATS_URL \(env\)/],
  ];
  for (const [argv, env, message] of cases) {
    assert.throws(() => loadConfig(argv, env), (e: Error) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, message);
      assert.doesNotMatch(e.message, /hunter2/);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
  }
  const good = loadConfig(["--nats-url=nats://a:b@h1:4222, tls://h2:4443,127.0.0.1:4222"], {}).config!;
  assert.equal(good.natsUrl, "nats://a:b@h1:4222, tls://h2:4443,127.0.0.1:4222");
});
