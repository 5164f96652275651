/**
 * No Docker engine runs here, so compose.yaml and the Dockerfile are checked against the program itself:
 * every nomnom service's command and environment must load as a valid config (known env names, a real role,
 * URLs that name services of the file), published ports must be the ports the config listens on, and the
 * entities path must be one the image contains.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { parseCommandLine } from "../src/cli/parse.ts";
import { describeSettings, loadConfig } from "../src/config.ts";
import { decodeMessage } from "../src/registry/derive.ts";
import { loadRegistry } from "../src/registry/load.ts";
import { bunBuildArgs } from "./bun_build.ts";

const ROOT = new URL("../", import.meta.url).pathname;
type Service = {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  expose?: string[];
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  depends_on?: Record<string, { condition: string }>;
};

const composeText = await readFile(ROOT + "compose.yaml", "utf8");
const compose = parse(composeText, { merge: true }) as {
  services: Record<string, Service>;
};
const dockerfile = await readFile(ROOT + "Dockerfile", "utf8");
const nomnomServices = Object.entries(compose.services).filter(([, s]) => s.image === "nomnom:local");
const dockerEnv = Object.fromEntries(
  [...dockerfile.matchAll(/^\s*(?:ENV\s+)?([A-Z_]+)=(\S+?)\s*\\?$/gm)].map((m) => [m[1], m[2]]),
);

Deno.test("compose.yaml runs one api and two workers of the image nomnom builds", () => {
  assert.deepEqual(nomnomServices.map(([name]) => name).sort(), ["api", "worker"]);
  assert.ok(
    nomnomServices.some(([, s]) => s.build === "."),
    "one service builds the image from the Dockerfile",
  );
  assert.equal((compose.services.worker as { deploy?: { replicas?: number } }).deploy?.replicas, 2);
});

Deno.test("every nomnom service's command and environment is a valid nomnom configuration", () => {
  const known = new Set(describeSettings().map((s) => s.env));
  for (const [name, service] of nomnomServices) {
    const env = { ...dockerEnv, ...service.environment };
    for (const key of Object.keys(service.environment ?? {})) {
      assert.ok(known.has(key), `${name}: ${key} is a nomnom setting`);
    }
    const config = loadConfig(service.command ?? [], env);
    assert.ok(config && config.role !== "all", `${name} runs a single role`);
    for (const url of [config.natsUrl!, config.databaseUrl!]) {
      const host = new URL(url).hostname;
      assert.ok(compose.services[host], `${name}: ${url} names the compose service "${host}"`);
      assert.equal(
        service.depends_on?.[host]?.condition,
        "service_healthy",
        `${name} waits for ${host} to be healthy`,
      );
    }
    const listening = config.role === "worker" ? config.opsPort : config.http.port;
    for (const mapping of [...(service.ports ?? []), ...(service.expose ?? [])]) {
      assert.equal(
        Number(mapping.split(":").at(-1)),
        listening,
        `${name}: ${mapping} is the port nomnom listens on`,
      );
    }
    // Docker kills after stop_grace_period (default 10 s): it must cover the API's drain and the shutdown deadline.
    const grace = Number(/^(\d+)s$/.exec(service.stop_grace_period ?? "10s")?.[1]) * 1000;
    const shutdown = config.role === "worker" ? 0 : config.shutdownDrainMs;
    assert.ok(
      grace >= shutdown + config.shutdownTimeoutMs,
      `${name}: stop_grace_period ${grace} ms covers drain + shutdown (${
        shutdown + config.shutdownTimeoutMs
      } ms)`,
    );
    const check = service.healthcheck!.test;
    assert.deepEqual(check.slice(0, 3), ["CMD", "/nomnom", "healthcheck"]);
    const probe = loadConfig(check.slice(3).filter((a) => a !== "ready").concat(), env);
    assert.equal(probe.role, config.role, `${name}'s healthcheck asks the port of its own role`);
  }
});

Deno.test("NATS runs with JetStream and monitoring, PostgreSQL with a volume and a healthcheck", () => {
  const nats = compose.services.nats;
  assert.ok(nats.command!.includes("-js"));
  assert.ok(nats.ports!.some((p) => p.endsWith(":8222")), "monitoring port for KEDA/jsz");
  const pg = compose.services.postgres as Service & { volumes?: string[] };
  assert.ok(pg.volumes?.some((v) => v.endsWith(":/var/lib/postgresql/data")));
  assert.ok(pg.healthcheck);
  const pgUrl = new URL(
    loadConfig(compose.services.api.command!, { ...compose.services.api.environment }).databaseUrl!,
  );
  assert.equal(pgUrl.password, pg.environment!.POSTGRES_PASSWORD);
  assert.equal(pgUrl.pathname.slice(1), pg.environment!.POSTGRES_DB);
});

Deno.test("the image holds the binary and the entities its config points at", async () => {
  assert.match(dockerfile, /COPY --from=build \/nomnom \/nomnom/);
  assert.match(dockerfile, /ENTRYPOINT \["\/nomnom"\]/);
  assert.match(dockerfile, /USER nonroot/);
  assert.match(dockerfile, /HEALTHCHECK .*"\/nomnom", "healthcheck"/);
  const copied = dockerfile.match(/^COPY (\S+) (\/\S+)$/m)!;
  assert.ok(existsSync(ROOT + copied[1]), `${copied[1]} exists in the repository`);
  assert.equal(dockerEnv.NOMNOM_ENTITIES, copied[2], "NOMNOM_ENTITIES is where the entities are copied");
  assert.ok(
    dockerfile.includes(`bun ${(await bunBuildArgs()).join(" ")} --outfile /nomnom`),
    "the same build as deno task build:bun",
  );
});

Deno.test("the image's one HEALTHCHECK finds the process of every role: the API port, else the worker's ops port", async () => {
  const args = JSON.parse(dockerfile.match(/^HEALTHCHECK .* CMD (\[.*\])$/m)![1]) as string[];
  assert.equal(args[0], "/nomnom");
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = (closed.addr as Deno.NetAddr).port;
  closed.close();
  const probe = async (listenOn: "PORT" | "NOMNOM_OPS_PORT" | undefined) => {
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () => new Response("ok"),
    );
    const env = { ...dockerEnv, PORT: String(closedPort), NOMNOM_OPS_PORT: String(closedPort) };
    if (listenOn) env[listenOn] = String(server.addr.port);
    try {
      const line = parseCommandLine(args.slice(1), env);
      assert.ok("command" in line && line.command.name === "healthcheck");
      return await line.command.run({ config: line.config, args: line.args, out: () => {} });
    } finally {
      await server.shutdown();
    }
  };
  assert.equal(await probe("PORT"), 0, "an api or all container");
  assert.equal(await probe("NOMNOM_OPS_PORT"), 0, "a worker container");
  assert.equal(await probe(undefined), 1, "nothing answers");
});

Deno.test("the order compose.yaml's curl posts is a valid Order of the entities the image carries", async () => {
  const curl = composeText.match(/^#\s+curl -s localhost:(\d+)\/ingest\/message\/(\w+) .* -d @(\S+)$/m);
  assert.ok(curl, "compose.yaml says how to post an order");
  const [, port, entityName, file] = curl;
  assert.ok(compose.services.api.ports!.some((p) => p.startsWith(`${port}:`)), `the api publishes ${port}`);
  const copied = dockerfile.match(/^COPY (\S+) (\/\S+)$/m)![1];
  assert.ok(file.startsWith(`${copied}/`), `${file} is in ${copied}/, which the image carries`);
  const registry = await loadRegistry(ROOT + copied);
  const decoded = decodeMessage(
    registry,
    registry.entities.get(entityName)!,
    JSON.parse(await readFile(ROOT + file, "utf8")),
  );
  assert.equal(decoded.derived.get("OrderLineItem")?.length, 2, "with its line items");
});

Deno.test("the build context leaves out local state but keeps what the build stage reads", async () => {
  const ignored = (await readFile(ROOT + ".dockerignore", "utf8")).split("\n").map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  for (const local of [".git", "node_modules", ".nomnom", ".scratch", "bench/results", "nomnom"]) {
    assert.ok(ignored.includes(local), `${local} is not sent to the Docker daemon`);
  }
  const read = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1].split(" "))
    .concat("build/bun_main.ts", "main.ts", "src");
  for (const path of read.filter((p) => p !== ".")) {
    const excludedBy = ignored.find((pattern) =>
      path === pattern || path.startsWith(`${pattern}/`) ||
      new RegExp(`^${pattern.replaceAll(".", "\\.").replaceAll("*", "[^/]*")}$`).test(path)
    );
    assert.equal(excludedBy, undefined, `${path}, which the build reads, is excluded by ${excludedBy}`);
  }
});

Deno.test("the image's user can write the demo's default data dir, and compose never pulls the local image", () => {
  const user = dockerfile.indexOf("USER nonroot");
  assert.ok(
    /^WORKDIR \/home\/nonroot$/m.test(dockerfile.slice(user)),
    "WORKDIR is nonroot's home, after USER",
  );
  for (const [name, service] of nomnomServices) {
    const policy = (service as { pull_policy?: string }).pull_policy;
    assert.equal(policy, service.build ? "build" : "never", `${name}: nomnom:local is built, never pulled`);
  }
});
