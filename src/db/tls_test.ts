import assert from "node:assert/strict";
import { ConfigError } from "../errors.ts";
import { explainTlsFailure, postgresSslOption, resolvePostgresTls } from "./tls.ts";

const URL = "postgres://u:p@db.example.org:6432/app";

Deno.test("resolvePostgresTls() takes sslmode from the URL, and a CA file without sslmode means verify-full", () => {
  assert.deepEqual(resolvePostgresTls(URL, undefined), {
    mode: "disable",
    shownMode: "sslmode=disable",
    caFile: undefined,
    host: "db.example.org",
    port: 6432,
  });
  assert.equal(resolvePostgresTls(URL + "?sslmode=require", undefined).mode, "require");
  assert.equal(resolvePostgresTls(URL, "/ca.pem").mode, "verify-full");
  assert.equal(
    resolvePostgresTls(URL, "/ca.pem").shownMode,
    "sslmode=verify-full, implied by --postgres-ca-file (NOMNOM_POSTGRES_CA_FILE)",
  );
  assert.equal(resolvePostgresTls(URL + "?sslmode=verify-ca", "/ca.pem").mode, "verify-ca");
  assert.equal(resolvePostgresTls("postgres://u@[::1]/app?sslmode=verify-full", undefined).host, "::1");
});

Deno.test("resolvePostgresTls() refuses a CA file with a mode that never checks it, naming both settings", () => {
  for (const mode of ["disable", "prefer", "require"]) {
    assert.throws(
      () => resolvePostgresTls(`${URL}?sslmode=${mode}`, "/ca.pem"),
      (e: Error) =>
        e instanceof ConfigError && e.message.includes("--postgres-ca-file (NOMNOM_POSTGRES_CA_FILE)") &&
        e.message.includes(`sslmode=${mode}`) && e.message.includes("--database-url (DATABASE_URL)"),
    );
  }
});

Deno.test("resolvePostgresTls() refuses sslrootcert, client certificates and unknown modes in the URL", () => {
  assert.throws(
    () => resolvePostgresTls(URL + "?sslmode=verify-full&sslrootcert=/ca.pem", undefined),
    /sets sslrootcert: nomnom reads the CA from --postgres-ca-file/,
  );
  assert.throws(() => resolvePostgresTls(URL + "?sslcert=/c.pem", undefined), /client certificates/);
  assert.throws(
    () => resolvePostgresTls(URL + "?sslmode=verify_full", undefined),
    /sslmode=verify_full: use one/,
  );
  assert.throws(() => resolvePostgresTls(URL + "?sslmode=allow", undefined), /allow.*not supported/);
});

Deno.test("postgresSslOption() checks the URL's host with verify-full and only the chain with verify-ca", () => {
  assert.equal(postgresSslOption(resolvePostgresTls(URL, undefined)), false);
  assert.equal(postgresSslOption(resolvePostgresTls(URL + "?sslmode=prefer", undefined)), "prefer");
  assert.deepEqual(postgresSslOption(resolvePostgresTls(URL + "?sslmode=require", undefined)), {
    rejectUnauthorized: false,
  });
  const cert = { subject: { CN: "x" }, subjectaltname: "DNS:db.example.org" } as never;
  const full = postgresSslOption(resolvePostgresTls(URL + "?sslmode=verify-full", undefined));
  assert.ok(typeof full === "object" && full.rejectUnauthorized === true);
  // The name postgres.js passes is ignored: Deno passes "localhost" for an IP host.
  assert.equal(full.checkServerIdentity!("localhost", cert), undefined);
  const other = postgresSslOption(
    resolvePostgresTls("postgres://u@127.0.0.1/app?sslmode=verify-full", undefined),
  );
  assert.ok(typeof other === "object" && other.checkServerIdentity!("localhost", cert) instanceof Error);
  const ca = postgresSslOption(resolvePostgresTls("postgres://u@127.0.0.1/app?sslmode=verify-ca", undefined));
  assert.ok(typeof ca === "object" && ca.checkServerIdentity!("127.0.0.1", cert) === undefined);
});

Deno.test("postgresSslOption() names --postgres-ca-file when the file is missing or holds no certificate", async () => {
  assert.throws(
    () => postgresSslOption(resolvePostgresTls(URL, "/nonexistent/ca.pem")),
    /Cannot read --postgres-ca-file \(NOMNOM_POSTGRES_CA_FILE\)="\/nonexistent\/ca.pem" \(ENOENT\)/,
  );
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(file, "not a certificate");
    assert.throws(() => postgresSslOption(resolvePostgresTls(URL, file)), /holds no PEM certificate/);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("explainTlsFailure() names the setting for each certificate problem and asks the server when unsure", async () => {
  const t = resolvePostgresTls(URL, "/ca.pem");
  const unknownCa = await explainTlsFailure({ code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" }, t);
  assert.match(unknownCa!, /not signed by a CA in --postgres-ca-file \(NOMNOM_POSTGRES_CA_FILE\)="\/ca.pem"/);
  const name = await explainTlsFailure(
    { code: "ERR_TLS_CERT_ALTNAME_INVALID", cert: { subjectaltname: "DNS:elsewhere" } },
    t,
  );
  assert.match(name!, /is for DNS:elsewhere, not for "db.example.org".*--database-url \(DATABASE_URL\)/);
  const noTls = await explainTlsFailure({ code: "ECONNRESET" }, t, () => Promise.resolve(false));
  assert.match(
    noTls!,
    /does not support SSL.*set sslmode=disable in --database-url.*unset --postgres-ca-file/,
  );
  assert.equal(await explainTlsFailure({ code: "ECONNRESET" }, t, () => Promise.resolve(true)), undefined);
  assert.equal(
    await explainTlsFailure({ code: "ECONNREFUSED" }, resolvePostgresTls(URL, undefined)),
    undefined,
  );
});
