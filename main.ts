/**
 * nomnom's entry point: argv/env → config → registry → command or role. Exit codes: 0 ok, 1 failure (bad
 * entities, cannot start), 2 bad configuration.
 */
import { existsSync } from "node:fs";
import process from "node:process";
import { run } from "./src/app.ts";
import { printRegistry, printTopology, runHealthcheck, runMigrate } from "./src/cli.ts";
import { runDlq } from "./src/cli_dlq.ts";
import { loadConfig } from "./src/config.ts";
import { isPostgresJsClosedSocketRace } from "./src/db/postgres_guard.ts";
import { ConfigError, EntityDefinitionError } from "./src/errors.ts";
import { createLogger, redact } from "./src/log.ts";
import { createBanner } from "./src/banner.ts";
import { createRegistry, loadRegistry } from "./src/registry/load.ts";

async function main(): Promise<number> {
  const loaded = loadConfig(process.argv.slice(2), process.env);
  if (loaded.help !== undefined) {
    console.log(loaded.help);
    return 0;
  }
  const config = loaded.config;
  const out = (line: string) => console.log(line);
  if (config.command === "healthcheck") return await runHealthcheck(config, out);
  const log = createLogger(
    config.logLevel,
    { role: config.command === "run" ? config.role : config.command },
    undefined,
    config.logFormat ?? (process.stderr.isTTY ? "pretty" : "json"),
  );
  const registry = await loadEntities(config.entitiesDir);
  if (config.command === "validate") return printRegistry(registry, config, out);
  if (config.command === "topology") return printTopology(registry, config, out);
  if (config.command === "migrate") return await runMigrate(registry, config, log, out);
  if (config.command === "dlq") return await runDlq(config, registry, log, out);

  process.on("uncaughtException", (error) => {
    if (isPostgresJsClosedSocketRace(error)) {
      return log.warn("ignored postgres.js write on a closed connection");
    }
    log.error("uncaught exception; exiting", { error });
    process.exit(1);
  });
  const started = performance.now();
  const running = await run(config.role, { config, registry, log });
  if (running.runtime.server) {
    console.log(createBanner(running.runtime, Math.round(performance.now() - started)));
  }
  // The first signal starts a graceful shutdown; a second one (an impatient Ctrl-C) exits at once. Nothing
  // is lost either way: unacked messages are redelivered.
  let signals = 0;
  const signal = await new Promise<string>((resolve) => {
    for (const name of ["SIGINT", "SIGTERM"] as const) {
      process.on(name, () => {
        if (++signals > 1) process.exit(130);
        resolve(name);
      });
    }
  });
  // Readiness turns 503 at once. On SIGTERM (an orchestrator) an API keeps serving for --shutdown-drain-ms, so
  // that a load balancer sees the 503 and sends no more before the listener closes (Kubernetes removes an
  // endpoint asynchronously); SIGINT is a person's Ctrl-C, with no load balancer to wait for. Then the API
  // finishes its in-flight requests, the worker its batch, and NATS is drained, within --shutdown-timeout-ms.
  running.runtime.stopping = true;
  const drainMs = running.runtime.server && signal === "SIGTERM" ? config.shutdownDrainMs : 0;
  log.info("stopping", { signal, drain_ms: drainMs, deadline_ms: config.shutdownTimeoutMs });
  if (drainMs > 0) await new Promise((resolve) => setTimeout(resolve, drainMs));
  const deadline = new Promise<false>((r) => setTimeout(() => r(false), config.shutdownTimeoutMs).unref?.());
  if (!await Promise.race([running.stop().then(() => true as const), deadline])) {
    log.error("graceful shutdown did not finish before the deadline; exiting");
    return 1;
  }
  log.info("stopped");
  return 0;
}

/**
 * The entities folder; a compiled binary run where there is no ./entities uses the example entities it
 * carries (set by its entry point, build/bun_main.ts).
 */
async function loadEntities(dir: string) {
  const embedded =
    (globalThis as { __NOMNOM_ENTITIES__?: { path: string; text: string }[] }).__NOMNOM_ENTITIES__;
  if (embedded && dir === "entities" && !existsSync(dir)) return createRegistry(embedded);
  return await loadRegistry(dir);
}

main().then((code) => process.exit(code), (error) => {
  if (error instanceof ConfigError) return (console.error(`nomnom: ${error.message}`), process.exit(2));
  if (error instanceof EntityDefinitionError) return (console.error(error.message), process.exit(1));
  console.error(redact(`nomnom: ${error instanceof Error ? error.message : String(error)}`));
  process.exit(1);
});
