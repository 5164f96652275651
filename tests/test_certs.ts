/**
 * Throw-away certificate authorities and certificates for TLS tests, made by `openssl` in a temporary directory
 * (removed on dispose): `await using pki = await createTestPki(); const ca = await pki.ca("test CA");
 * const server = await ca.issue("server", ["IP:127.0.0.1", "DNS:localhost"]);`.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runChild } from "./child.ts";

/** A certificate and its key, as files and as PEM text. */
export type IssuedCert = { certFile: string; keyFile: string; cert: string; key: string };

/** A CA that issues server certificates. */
export type TestCa = IssuedCert & {
  /**
   * A certificate for `names` (subjectAltName entries: `IP:127.0.0.1`, `DNS:localhost`; none for a client)
   * signed by this CA, for a server or (mutual TLS) a client.
   */
  issue(name: string, names: string[], usage?: "serverAuth" | "clientAuth"): Promise<IssuedCert>;
};

export type TestPki = AsyncDisposable & { dir: string; ca(name: string): Promise<TestCa> };

async function openssl(args: string[], cwd: string): Promise<void> {
  const r = await runChild("openssl", args, { cwd });
  if (r.code !== 0) throw new Error(`openssl ${args.join(" ")} exited ${r.code}:\n${r.stderr}`);
}

async function read(dir: string, base: string): Promise<IssuedCert> {
  const certFile = join(dir, `${base}.crt`);
  const keyFile = join(dir, `${base}.key`);
  return { certFile, keyFile, cert: await readFile(certFile, "utf8"), key: await readFile(keyFile, "utf8") };
}

/** A temporary directory to make CAs in. */
export async function createTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), "nomnom-pki-"));
  let serial = 0;
  return {
    dir,
    async ca(name) {
      const base = `ca-${++serial}`;
      await openssl([
        ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"],
        ...["-subj", `/CN=${name}`, "-keyout", `${base}.key`, "-out", `${base}.crt`],
        ...[
          "-addext",
          "basicConstraints=critical,CA:TRUE",
          "-addext",
          "keyUsage=critical,keyCertSign,cRLSign",
        ],
      ], dir);
      const ca = await read(dir, base);
      return {
        ...ca,
        async issue(leaf, names, usage = "serverAuth") {
          const out = `${leaf}-${++serial}`;
          await openssl([
            ...[
              "req",
              "-newkey",
              "ec",
              "-pkeyopt",
              "ec_paramgen_curve:P-256",
              "-nodes",
              "-subj",
              `/CN=${leaf}`,
            ],
            ...["-keyout", `${out}.key`, "-out", `${out}.csr`],
          ], dir);
          const ext = join(dir, `${out}.ext`);
          await writeFile(
            ext,
            `${names.length > 0 ? `subjectAltName=${names.join(",")}\n` : ""}basicConstraints=CA:FALSE\n` +
              `extendedKeyUsage=${usage}\n`,
          );
          await openssl([
            ...["x509", "-req", "-in", `${out}.csr`, "-CA", ca.certFile, "-CAkey", ca.keyFile, "-days", "2"],
            ...["-set_serial", String(Date.now() * 100 + serial), "-out", `${out}.crt`, "-extfile", ext],
          ], dir);
          return read(dir, out);
        },
      };
    },
    async [Symbol.asyncDispose]() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
