/**
 * The certificate set the NATS TLS tests use, issued by tests/test_certs.ts: a CA, a server certificate for
 * 127.0.0.1 and localhost, one for another host only, a client certificate, and a second, unrelated CA (a
 * "wrong CA" to trust). Paths only: nats-server and nomnom's settings take files.
 */
import { createTestPki, type IssuedCert } from "./test_certs.ts";

type Pair = { cert: string; key: string };

export type TestCertificates = AsyncDisposable & {
  dir: string;
  /** The CA that signed every certificate below (PEM file). */
  ca: string;
  /** A CA that signed none of them. */
  otherCa: string;
  /** Server certificate and key, SAN IP:127.0.0.1 and DNS:localhost. */
  server: Pair;
  /** Server certificate and key for DNS:elsewhere.example only (a hostname mismatch at 127.0.0.1). */
  elsewhere: Pair;
  /** Client certificate and key (mutual TLS). */
  client: Pair;
};

const files = (issued: IssuedCert): Pair => ({ cert: issued.certFile, key: issued.keyFile });

/** Create the CAs and certificates (a few hundred milliseconds of openssl). */
export async function createTestCertificates(): Promise<TestCertificates> {
  const pki = await createTestPki();
  try {
    const ca = await pki.ca("ca");
    const other = await pki.ca("other-ca");
    return {
      dir: pki.dir,
      ca: ca.certFile,
      otherCa: other.certFile,
      server: files(await ca.issue("server", ["IP:127.0.0.1", "DNS:localhost"])),
      elsewhere: files(await ca.issue("elsewhere", ["DNS:elsewhere.example"])),
      client: files(await ca.issue("client", [], "clientAuth")),
      [Symbol.asyncDispose]: () => pki[Symbol.asyncDispose](),
    };
  } catch (error) {
    await pki[Symbol.asyncDispose]();
    throw error;
  }
}
