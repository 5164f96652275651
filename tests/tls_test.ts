/**
 * TLS end to end, against real servers and a throw-away CA (tests/test_certs.ts): PostgreSQL with ssl=on (a
 * private server, tests/private_postgres.ts) reached with sslmode=verify-full and --postgres-ca-file, and the
 * API and the worker's ops port serving HTTPS with --tls-cert/--tls-key. The same scenario runs from source on
 * Deno and as the Bun binary (what the image ships). Wrong CA, a certificate for another host and a server
 * without TLS each stop the start with a message naming what to fix.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { connectDatabase } from "../src/db/connect.ts";
import { silentLogger } from "../src/log.ts";
import { buildBunBinary } from "./bun_build.ts";
import { apiUrl, runChild, runNomnom } from "./child.ts";
import { createTempDir, createTestEnv, TPCH, waitForStatus } from "./harness.ts";
import { startPrivatePostgres } from "./private_postgres.ts";
import { createTestPki } from "./test_certs.ts";

const exampleOrder = JSON.parse(await readFile(TPCH + "example_order.json", "utf8"));

/** The database URL of `url` with `sslmode`. */
function withSslMode(url: string, mode: string): string {
  const u = new URL(url);
  u.searchParams.set("sslmode", mode);
  return u.toString();
}

async function tlsScenario(binary?: string): Promise<void> {
  await using pki = await createTestPki();
  const ca = await pki.ca("nomnom test CA");
  const otherCa = await pki.ca("another CA");
  const local = await ca.issue("localhost", ["IP:127.0.0.1", "DNS:localhost"]);
  const elsewhere = await ca.issue("db.example.org", ["DNS:db.example.org"]);
  const [pg, pgElsewhere, pgPlain] = await Promise.all([
    startPrivatePostgres({ tls: local }),
    startPrivatePostgres({ tls: elsewhere }),
    startPrivatePostgres(),
  ]);
  await using _pgs = {
    [Symbol.asyncDispose]: async () => {
      for (const p of [pg, pgElsewhere, pgPlain]) await p[Symbol.asyncDispose]();
    },
  };
  await using env = await createTestEnv({ postgres: { url: pg.url } });
  const databaseUrl = env.config.databaseUrl!;
  const tls = [`--tls-cert=${local.certFile}`, `--tls-key=${local.keyFile}`];
  const verified = [
    `--database-url=${withSslMode(databaseUrl, "verify-full")}`,
    `--postgres-ca-file=${ca.certFile}`,
  ];
  const options = binary ? { binary } : {};

  // 1. api and worker, PostgreSQL over verify-full, both listeners over HTTPS.
  const worker = env.spawn("worker", [...verified, ...tls], options);
  const api = env.spawn("api", [...verified, ...tls], options);
  const url = await apiUrl(api);
  assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/, "the banner prints the https URL");
  const opsPort = (await worker.waitForLog(/"worker ops listening".*"url":"https:\/\/[^"]*:(\d+)"/))[1];
  await worker.waitForLog(/worker started/);

  const client = Deno.createHttpClient({ caCerts: [ca.cert] });
  try {
    const health = await fetch(`${url}/health`, { client });
    assert.equal(health.status, 200, await health.text());
    const ingest = await fetch(`${url}/ingest/message/Order`, {
      client,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(exampleOrder),
    });
    const accepted = await ingest.json();
    assert.equal(ingest.status, 202, JSON.stringify(accepted));
    await waitForStatus(env.sql, accepted.message_id, "completed");
    const [{ orders }] = await env.sql`SELECT count(*)::int AS orders FROM orders`;
    assert.equal(orders, 1, "the message became a row, written over TLS");
  } finally {
    client.close();
  }
  const sessions = await env.sql`SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
    WHERE a.application_name = 'nomnom' AND a.datname = current_database()`;
  assert.ok(sessions.length > 0 && sessions.every((s) => s.ssl === true), JSON.stringify(sessions));

  // Without the CA the certificate is unknown; plain HTTP to the TLS port is no answer at all.
  await assert.rejects(fetch(`${url}/health`));
  await assert.rejects(fetch(`${url.replace("https:", "http:")}/health`));

  // The image's HEALTHCHECK over HTTPS, on the API port and on the worker's ops port.
  const healthcheck = (args: string[]) =>
    binary ? runChild(binary, ["healthcheck", ...args]) : runNomnom(["healthcheck", ...args]);
  const apiPort = new URL(url).port;
  for (const args of [[`--port=${apiPort}`], ["--role=worker", `--ops-port=${opsPort}`]]) {
    const probe = await healthcheck([...args, ...tls.slice(0, 1)]);
    assert.equal(probe.code, 0, probe.stdout + probe.stderr);
    assert.match(probe.stdout, /^https:\/\/127\.0\.0\.1:\d+\/health: 200/);
    const plain = await healthcheck([...args]);
    assert.equal(plain.code, 1, "http:// to the TLS port fails: " + plain.stdout);
  }
  await api.stop();
  await worker.stop();

  // The CLI commands that talk to PostgreSQL read the same two settings.
  const migrate = await runNomnom(["migrate", `--entities=${env.config.entitiesDir}`, ...verified], options);
  assert.equal(migrate.code, 0, migrate.stderr);
  assert.match(migrate.stdout, /schema is up to date/);

  // 2. Certificate problems stop the start (exit 1) naming what to fix.
  const start = (flags: string[]) =>
    runNomnom(["--role=worker", ...env.flags, "--host=127.0.0.1", "--ops-port=0", ...flags], options);
  const wrongCa = await start([...verified.slice(0, 1), `--postgres-ca-file=${otherCa.certFile}`]);
  assert.equal(wrongCa.code, 1, wrongCa.stderr);
  assert.match(
    wrongCa.stderr,
    /the certificate of 127\.0\.0\.1:\d+ is not signed by a CA in --postgres-ca-file \(NOMNOM_POSTGRES_CA_FILE\)=/,
  );
  const elsewhereUrl = new URL(databaseUrl);
  elsewhereUrl.port = String(pgElsewhere.port);
  elsewhereUrl.pathname = "/postgres";
  const wrongHost = await start([
    `--database-url=${withSslMode(elsewhereUrl.toString(), "verify-full")}`,
    `--postgres-ca-file=${ca.certFile}`,
  ]);
  assert.equal(wrongHost.code, 1, wrongHost.stderr);
  assert.match(
    wrongHost.stderr,
    /the certificate of 127\.0\.0\.1:\d+ is for DNS:db\.example\.org, not for "127\.0\.0\.1" \(sslmode=verify-full\)\. Connect to a host name the certificate lists in --database-url \(DATABASE_URL\)/,
  );
  // verify-ca checks the chain only: the same server is accepted.
  const chainOnly = await connectDatabase(
    withSslMode(elsewhereUrl.toString(), "verify-ca"),
    1,
    silentLogger,
    {
      caFile: ca.certFile,
    },
  );
  await chainOnly.end();
  const plainUrl = new URL(databaseUrl);
  plainUrl.port = String(pgPlain.port);
  plainUrl.pathname = "/postgres";
  const noTls = await start([`--database-url=${plainUrl}`, `--postgres-ca-file=${ca.certFile}`]);
  assert.equal(noTls.code, 1, noTls.stderr);
  assert.match(noTls.stderr, /the server at 127\.0\.0\.1:\d+ does not support SSL/);
  assert.match(
    noTls.stderr,
    /set sslmode=disable in --database-url \(DATABASE_URL\) and unset --postgres-ca-file/,
  );
}

Deno.test("PostgreSQL over verify-full and the API over HTTPS, from source on Deno; certificate errors are named", async () => {
  await tlsScenario();
});

Deno.test("the same with the Bun binary", async () => {
  await using temp = await createTempDir("nomnom-binary-tls-");
  const binary = join(temp.path, "nomnom");
  await buildBunBinary(binary);
  await tlsScenario(binary);
});

Deno.test("the embedded PostgreSQL speaks no TLS: a CA file without --database-url stops the demo, naming both", async () => {
  await using temp = await createTempDir("nomnom-tls-demo-");
  const r = await runNomnom([
    "--postgres-ca-file=/nonexistent/ca.pem",
    `--data-dir=${temp.path}`,
    "--host=127.0.0.1",
    "--port=0",
  ]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /--postgres-ca-file \(NOMNOM_POSTGRES_CA_FILE\) is set without --database-url \(DATABASE_URL\): the embedded PostgreSQL \(PGlite\) speaks no TLS/,
  );
});

Deno.test("--tls-cert without --tls-key, a key of another certificate, or no PEM stop the start (exit 2) naming the setting", async () => {
  await using pki = await createTestPki();
  const ca = await pki.ca("CA");
  const [a, b] = [await ca.issue("a", ["DNS:a"]), await ca.issue("b", ["DNS:b"])];
  const start = (flags: string[]) =>
    runNomnom([
      "--role=api",
      "--nats-url=nats://127.0.0.1:1",
      "--database-url=postgres://127.0.0.1:1/x",
      "--host=127.0.0.1",
      "--port=0",
      ...flags,
    ]);
  const cases: [string[], RegExp][] = [
    [
      [`--tls-cert=${a.certFile}`],
      /--tls-cert \(NOMNOM_TLS_CERT\) is set without --tls-key \(NOMNOM_TLS_KEY\)/,
    ],
    [
      [`--tls-cert=${a.certFile}`, `--tls-key=${b.keyFile}`],
      /--tls-key \(NOMNOM_TLS_KEY\)=".*" is not the private key of --tls-cert \(NOMNOM_TLS_CERT\)=/,
    ],
    [
      [`--tls-cert=${a.keyFile}`, `--tls-key=${a.keyFile}`],
      /--tls-cert \(NOMNOM_TLS_CERT\)=".*" holds no PEM certificate/,
    ],
    [[`--tls-cert=${a.certFile}`, "--tls-key=/nonexistent.key"], /Cannot read --tls-key .*\(ENOENT\)/],
  ];
  for (const [flags, message] of cases) {
    const r = await start(flags);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.ok(!r.stderr.includes("PRIVATE KEY"), "the key is never shown");
  }
});
