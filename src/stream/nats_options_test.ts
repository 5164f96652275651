import assert from "node:assert/strict";
import { loadConfig } from "../config.ts";
import { ConfigError } from "../errors.ts";
import { createNatsPlan, firstHostPort, requireNoSecurity } from "./nats_options.ts";

const nats = (argv: string[]) => loadConfig(argv, {}).nats;

Deno.test("createNatsPlan() takes user and password out of the URL, percent-decoded, and strips every entry", () => {
  const secret = "p@ss w,rd:%";
  const url = `nats://alice:${encodeURIComponent(secret)}@h1:4222, tls://alice:${
    encodeURIComponent(secret)
  }@h2:4443,h3`;
  const plan = createNatsPlan(url, nats([]));
  assert.deepEqual(plan.servers, ["nats://h1:4222", "tls://h2:4443", "h3"]);
  assert.deepEqual(plan.auth, {
    kind: "password",
    user: "alice",
    pass: secret,
    from: "the userinfo of --nats-url (NATS_URL)",
  });
  assert.equal(plan.tlsBecause, "the tls:// scheme of --nats-url (NATS_URL)");
});

Deno.test("createNatsPlan() reads a userinfo without a colon as a token", () => {
  const plan = createNatsPlan("nats://tok3n%2FS3cret@127.0.0.1:4222", nats([]));
  assert.deepEqual(plan.servers, ["nats://127.0.0.1:4222"]);
  assert.equal(plan.auth.kind, "token");
  assert.equal((plan.auth as { token: string }).token, "tok3n/S3cret");
  assert.equal(plan.tls, undefined, "nats:// without TLS files leaves TLS to the server");
});

Deno.test("createNatsPlan() takes credentials and TLS files from the settings", () => {
  const plan = createNatsPlan(
    "nats://127.0.0.1:4222",
    nats(["--nats-user=bob", "--nats-password=pw", "--nats-ca-file=ca.pem"]),
  );
  assert.deepEqual(plan.tls, { caFile: "ca.pem" });
  assert.equal(plan.tlsBecause, "--nats-ca-file (NOMNOM_NATS_CA_FILE)");
  assert.deepEqual(plan.auth, {
    kind: "password",
    user: "bob",
    pass: "pw",
    from: "--nats-user (NOMNOM_NATS_USER) and --nats-password (NOMNOM_NATS_PASSWORD)",
  });
  assert.equal(createNatsPlan("h:1", nats(["--nats-nkey-file=u.nk"])).auth.kind, "nkey");
  assert.equal(createNatsPlan("h:1", nats(["--nats-creds-file=u.creds"])).auth.kind, "creds");
  assert.equal(createNatsPlan("h:1", nats(["--nats-token=abc"])).auth.kind, "token");
});

Deno.test("createNatsPlan() refuses half or doubled settings, naming them and never the secret", () => {
  const cases: [string, string[], RegExp][] = [
    ["nats://h", ["--nats-cert-file=c.pem"], /--nats-cert-file .* needs --nats-key-file/],
    ["nats://h", ["--nats-key-file=k.pem"], /--nats-key-file .* needs --nats-cert-file/],
    ["nats://h", ["--nats-user=u"], /--nats-user .* needs --nats-password/],
    [
      "nats://h",
      ["--nats-token=s3cr3t", "--nats-nkey-file=u.nk"],
      /given twice: --nats-token .* --nats-nkey-file/,
    ],
    ["nats://u:s3cr3t@h", ["--nats-token=t0k3n"], /given twice: in --nats-url .* --nats-token/],
    ["nats://u:s3cr3t@h1,nats://u:other@h2", [], /different credentials/],
    ["nats://u:s3cr3t%zz@h", [], /not valid percent-encoding/],
  ];
  for (const [url, argv, message] of cases) {
    assert.throws(() => createNatsPlan(url, nats(argv)), (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, message);
      assert.doesNotMatch(error.message, /s3cr3t|t0k3n|other/);
      return true;
    });
  }
});

Deno.test("firstHostPort() finds the first server's host and port (4222 by default)", () => {
  assert.deepEqual(firstHostPort(createNatsPlan("tls://u:p@nats.example:4443,h2", nats([]))), {
    host: "nats.example",
    port: 4443,
  });
  assert.deepEqual(firstHostPort(createNatsPlan("[::1]", nats([]))), { host: "::1", port: 4222 });
});

Deno.test("requireNoSecurity() names a NATS setting that cannot apply to the embedded server", () => {
  requireNoSecurity(nats([]), "no URL");
  assert.throws(
    () => requireNoSecurity(nats(["--nats-ca-file=ca.pem"]), "--nats-url (NATS_URL) is not set"),
    /--nats-ca-file \(NOMNOM_NATS_CA_FILE\) is set, but --nats-url \(NATS_URL\) is not set/,
  );
});
