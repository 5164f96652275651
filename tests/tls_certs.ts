/**
 * A throw-away certificate authority for TLS tests, made with `openssl` in a temporary directory (removed on
 * dispose): a CA, a server certificate for 127.0.0.1 and localhost, one for another host only, a client
 * certificate, and a second, unrelated CA (a "wrong CA" to trust).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runChild } from "./child.ts";

export type TestCertificates = AsyncDisposable & {
  dir: string;
  /** The CA that signed every certificate below (PEM file). */
  ca: string;
  /** A CA that signed none of them. */
  otherCa: string;
  /** Server certificate and key, SAN IP:127.0.0.1 and DNS:localhost. */
  server: { cert: string; key: string };
  /** Server certificate and key for DNS:elsewhere.example only (a hostname mismatch at 127.0.0.1). */
  elsewhere: { cert: string; key: string };
  /** Client certificate and key (mutual TLS). */
  client: { cert: string; key: string };
};

async function openssl(dir: string, args: string[]): Promise<void> {
  const ran = await runChild("openssl", args, { cwd: dir });
  if (ran.code !== 0) throw new Error(`openssl ${args.join(" ")} failed:\n${ran.stderr}`);
}

/** Create the CA and certificates (a few hundred milliseconds of openssl). */
export async function createTestCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), "nomnom-tls-"));
  const path = (name: string) => join(dir, name);
  const ca = async (name: string) => {
    await openssl(dir, [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
    ]);
  };
  const signed = async (name: string, extensions: string) => {
    await writeFile(path(`${name}.ext`), extensions);
    await openssl(dir, [
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-subj",
      `/CN=${name}`,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
    ]);
    await openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.pem`,
    ]);
    return { cert: path(`${name}.pem`), key: path(`${name}.key`) };
  };
  try {
    await ca("ca");
    await ca("other-ca");
    const server = await signed(
      "server",
      "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    );
    const elsewhere = await signed(
      "elsewhere",
      "subjectAltName=DNS:elsewhere.example\nextendedKeyUsage=serverAuth\n",
    );
    const client = await signed("client", "extendedKeyUsage=clientAuth\n");
    return {
      dir,
      ca: path("ca.pem"),
      otherCa: path("other-ca.pem"),
      server,
      elsewhere,
      client,
      async [Symbol.asyncDispose]() {
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
