import assert from "node:assert/strict";
import { redact } from "./log.ts";
import { ConfigError } from "./errors.ts";
import { describeSettings, loadConfig, type ReadFile } from "./config.ts";

Deno.test("loadConfig() prefers flags over env over defaults", () => {
  const defaults = loadConfig([], {});
  assert.equal(defaults.role, "all");
  assert.equal(defaults.http.port, 8080);
  const urls = { NATS_URL: "nats://n:4222", DATABASE_URL: "postgres://p/db" };
  const fromEnv = loadConfig([], { ...urls, PORT: "9000", NOMNOM_ROLE: "worker" });
  assert.equal(fromEnv.http.port, 9000);
  assert.equal(fromEnv.role, "worker");
  const fromFlag = loadConfig(["--port", "9100", "--role=api"], {
    ...urls,
    PORT: "9000",
    NOMNOM_ROLE: "worker",
  });
  assert.equal(fromFlag.http.port, 9100);
  assert.equal(fromFlag.role, "api");
});

Deno.test("loadConfig() puts each setting where the settings tree declares it", () => {
  const c = loadConfig(["--batch-size=7", "--max-message-bytes=2048", "--stream-replicas=3"], {});
  assert.equal(c.worker.batchSize, 7);
  assert.equal(c.limits.messageBytes, 2048);
  assert.equal(c.stream.replicas, 3);
  assert.equal(c.worker.retryMaxMs, 60_000);
});

Deno.test("loadConfig() rejects a bad value in one line naming the flag or the env variable", () => {
  assert.throws(
    () => loadConfig(["--batch-size=ten"], {}),
    (e: Error) => e instanceof ConfigError && /--batch-size="ten": must be a whole number/.test(e.message),
  );
  assert.throws(() => loadConfig([], { NOMNOM_BATCH_SIZE: "ten" }), /NOMNOM_BATCH_SIZE \(env\)/);
  assert.throws(() => loadConfig(["--role=both"], {}), /--role/);
  assert.throws(() => loadConfig(["--namespace=Bad.Name"], {}), /--namespace/);
  assert.throws(
    () => loadConfig(["--batch-sise=1"], {}),
    (e: Error) => e instanceof ConfigError && /'--batch-sise'.*did you mean --batch-size\?/.test(e.message),
  );
});

Deno.test("loadConfig() takes whole numbers as digits only: empty, exponent, hex or out-of-range values are errors", () => {
  for (const bad of ["", "1e3", "0x50", " 80", "8.5", "-1", "70000"]) {
    assert.throws(() => loadConfig([`--port=${bad}`], {}), /--port=/, `--port=${JSON.stringify(bad)}`);
  }
  assert.throws(() => loadConfig(["--retry-budget-ms="], {}), /--retry-budget-ms="": must be a whole number/);
  assert.equal(loadConfig(["--port=0"], {}).http.port, 0);
});

Deno.test("loadConfig() reads the log format from --log-format or LOG_FORMAT, and leaves it unset by default", () => {
  assert.equal(loadConfig([], {}).logFormat, undefined);
  assert.equal(loadConfig([], { LOG_FORMAT: "json" }).logFormat, "json");
  assert.equal(loadConfig(["--log-format=pretty"], { LOG_FORMAT: "json" }).logFormat, "pretty");
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
  const good = loadConfig(["--nats-url=nats://a:b@h1:4222, tls://h2:4443,127.0.0.1:4222"], {});
  assert.equal(good.natsUrl, "nats://a:b@h1:4222, tls://h2:4443,127.0.0.1:4222");
});

/** A file system of a few files, for the `<ENV>_FILE` tests. */
const files = (contents: Record<string, string>): ReadFile => (path) => {
  if (path in contents) return contents[path];
  throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: "ENOENT" });
};

Deno.test("loadConfig() reads a secret setting from the file <ENV>_FILE names, trimmed", () => {
  const read = files({
    "/run/secrets/db": "postgres://u:hunter2@db:5432/app\n",
    "/run/secrets/nats": "  nats://u:hunter3@nats:4222 \n",
  });
  const c = loadConfig(
    [],
    { DATABASE_URL_FILE: "/run/secrets/db", NATS_URL_FILE: "/run/secrets/nats" },
    read,
  );
  assert.equal(c.databaseUrl, "postgres://u:hunter2@db:5432/app");
  assert.equal(c.natsUrl, "nats://u:hunter3@nats:4222");
  const flag = loadConfig(
    ["--database-url=postgres://flag/db"],
    { DATABASE_URL_FILE: "/run/secrets/db" },
    read,
  );
  assert.equal(flag.databaseUrl, "postgres://flag/db", "a flag wins over the file, as over any env");
});

Deno.test("loadConfig() refuses a secret set both directly and by file, an unreadable or empty file, never showing the value", () => {
  const read = files({ "/s/db": "postgres://u:hunter2@[bad/db", "/s/empty": "\n" });
  const cases: [Record<string, string>, RegExp][] = [
    [
      { DATABASE_URL: "postgres://a/b", DATABASE_URL_FILE: "/s/db" },
      /Set DATABASE_URL or DATABASE_URL_FILE, not both/,
    ],
    [{ NATS_URL_FILE: "/s/missing" }, /^Cannot read NATS_URL_FILE="\/s\/missing" \(ENOENT\)/],
    [{ DATABASE_URL_FILE: "/s/empty" }, /^DATABASE_URL_FILE="\/s\/empty" is empty/],
    [{ DATABASE_URL_FILE: "/s/db" }, /^Invalid DATABASE_URL_FILE="\/s\/db": must be a URL.*value not shown/],
  ];
  for (const [env, message] of cases) {
    assert.throws(() => loadConfig([], env, read), (e: Error) => {
      assert.ok(e instanceof ConfigError, e.message);
      assert.match(e.message, message);
      assert.doesNotMatch(e.message, /hunter2/);
      return true;
    });
  }
});

Deno.test("only secret settings have a file twin, and the secrets are the URLs, the NATS password and token", () => {
  const twins = describeSettings().filter((s) => s.envFile).map((s) => s.envFile);
  assert.deepEqual(twins, [
    "NATS_URL_FILE",
    "NOMNOM_NATS_PASSWORD_FILE",
    "NOMNOM_NATS_TOKEN_FILE",
    "DATABASE_URL_FILE",
  ]);
  assert.equal(loadConfig([], { NOMNOM_ROLE_FILE: "/nope" }).role, "all", "no file twin for a plain setting");
});

Deno.test("loadConfig() makes the logger hide a NATS password and token given as settings, read from a file", () => {
  const files: Record<string, string> = {
    "/run/pw": "pw with spaces, commas\n",
    "/run/tok": "t0k3n/S3cret\n",
  };
  const c = loadConfig(["--nats-user=nomnom"], {
    NOMNOM_NATS_PASSWORD_FILE: "/run/pw",
    NOMNOM_NATS_TOKEN_FILE: "/run/tok",
  }, (path) => files[path]);
  assert.equal(c.nats.password, "pw with spaces, commas");
  assert.equal(c.nats.token, "t0k3n/S3cret");
  assert.equal(redact("auth pw with spaces, commas and t0k3n/S3cret failed"), "auth *** and *** failed");
});

Deno.test("loadConfig() makes the logger hide the configured NATS and PostgreSQL passwords by value", () => {
  loadConfig([], { NATS_URL: "nats://u:n4tsS3cret@h:4222", DATABASE_URL: "postgres://u:pg%2CS3cret@db/x" });
  assert.equal(redact("bad password n4tsS3cret / pg,S3cret"), "bad password *** / ***");
});

Deno.test("loadConfig() refuses rate-limit settings that would do nothing without --rate-limit", () => {
  assert.throws(() => loadConfig(["--rate-limit-burst=10"], {}), /--rate-limit-burst needs --rate-limit/);
  assert.throws(() => loadConfig([], { NOMNOM_TRUSTED_PROXIES: "10.0.0.0/8" }), /--trusted-proxies only/);
  const config = loadConfig(["--rate-limit=5", "--trusted-proxies=10.0.0.0/8, ::1"], {});
  assert.deepEqual(config.rateLimit, { rate: 5, burst: undefined, trustedProxies: ["10.0.0.0/8", "::1"] });
  assert.throws(
    () => loadConfig(["--rate-limit=5", "--trusted-proxies=10.0.0.0/33"], {}),
    /--trusted-proxies/,
  );
  assert.throws(() => loadConfig(["--cors-origins=https://shop.example/"], {}), /--cors-origins/);
  assert.deepEqual(loadConfig(["--cors-origins=*"], {}).cors.origins, ["*"]);
});
