/**
 * `nomnom kubernetes [--out DIR]`: the Kubernetes manifests (kustomize base + dev and prod overlays) for the
 * configured settings, the entities folder and the topology they give. Prints every file, or writes them to DIR
 * (deploy/kubernetes/ in this repository, which tests/kubernetes_test.ts keeps equal to this output).
 */
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { type EntityFile, renderKubernetes } from "../kubernetes/render.ts";
import { VERSION } from "../version.ts";
import { defineCommand, type FlagValues, loadEntities, unexpected } from "./command.ts";

type Args = { out?: string; image?: string; https: boolean };

/** The `kubernetes` command. */
export const kubernetesCommand = defineCommand<Args>({
  name: "kubernetes",
  usage: "kubernetes [--out DIR] [--image IMAGE] [--https]",
  summary: "print (or write to --out) the Kubernetes manifests for these settings, entities and topology",
  description: "A kustomize base and two overlays: dev (one of everything, PostgreSQL in the cluster) and " +
    "prod (three NATS servers, R3 streams, PostgreSQL from the Secret nomnom-database, verified with the CA " +
    "of the Secret nomnom-postgres-ca). Settings given here " +
    "(flags or env) go into each overlay's settings.env; replicas and NATS_URL are the overlay's. Apply with " +
    "kubectl apply -k DIR/overlays/<dev|prod>.",
  flags: {
    out: { type: "string", help: "write the files under this folder instead of printing them" },
    image: { type: "string", help: "the nomnom image the pods run (default: nomnom:<version>)" },
    https: {
      type: "boolean",
      help:
        "the API and worker pods serve HTTPS with the Secret nomnom-tls (tls.crt, tls.key); probes use HTTPS",
    },
  },
  settings: "all",
  parse(positionals: string[], flags: FlagValues): Args {
    if (positionals.length > 0) throw unexpected("kubernetes", positionals);
    return {
      out: flags.out as string | undefined,
      image: flags.image as string | undefined,
      https: flags.https === true,
    };
  },
  async run({ config, args, out }) {
    const registry = await loadEntities(config.entitiesDir);
    const files = renderKubernetes({
      config,
      registry,
      entities: await readEntityFiles(config.entitiesDir),
      version: VERSION,
      image: args.image,
      https: args.https,
    });
    if (!args.out) {
      for (const [path, text] of files) out(`# ==> ${path} <==\n${text}`);
      return 0;
    }
    // Entities removed from the folder must leave the ConfigMap too: the entities copy is replaced whole.
    await rm(join(args.out, "base", "entities"), { recursive: true, force: true });
    for (const [path, text] of files) {
      await mkdir(dirname(join(args.out, path)), { recursive: true });
      await writeFile(join(args.out, path), text);
    }
    out(`wrote ${files.size} files to ${args.out} (kubectl apply -k ${join(args.out, "overlays", "dev")})`);
    return 0;
  },
});

/** The entity files of `dir` as they are (the ConfigMap carries them unchanged), or the binary's own. */
export async function readEntityFiles(dir: string): Promise<EntityFile[]> {
  const embedded =
    (globalThis as { __NOMNOM_ENTITIES__?: { path: string; text: string }[] }).__NOMNOM_ENTITIES__;
  if (embedded && dir === "entities" && !existsSync(dir)) {
    return embedded.map((e) => ({ name: basename(e.path), text: e.text }));
  }
  const names = (await readdir(dir)).filter((n) => /\.ya?ml$/.test(n)).sort();
  return await Promise.all(
    names.map(async (name) => ({ name, text: await readFile(join(dir, name), "utf8") })),
  );
}
