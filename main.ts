/**
 * nomnom's entry point: argv/env → config → registry → command or role. Exit codes: 0 ok, 1 failure (bad
 * entities, cannot start), 2 bad configuration.
 */
import process from "node:process";
import { run } from "./src/app.ts";
import { printRegistry, printTopology, runMigrate } from "./src/cli.ts";
import { runDlq } from "./src/cli_dlq.ts";
import { loadConfig } from "./src/config.ts";
import { isPostgresJsClosedSocketRace } from "./src/db/postgres_guard.ts";
import { ConfigError, EntityDefinitionError } from "./src/errors.ts";
import { createLogger } from "./src/log.ts";
import { loadRegistry } from "./src/registry/load.ts";

async function main(): Promise<number> {
  const loaded = loadConfig(process.argv.slice(2), process.env);
  if (loaded.help !== undefined) {
    console.log(loaded.help);
    return 0;
  }
  const config = loaded.config;
  const log = createLogger(config.logLevel, {
    role: config.command === "run" ? config.role : config.command,
  });
  const registry = await loadRegistry(config.entitiesDir);
  const out = (line: string) => console.log(line);
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
  const running = await run(config.role, { config, registry, log });
  await new Promise<void>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolve());
  });
  log.info("stopping");
  await running.stop();
  return 0;
}

main().then((code) => process.exit(code), (error) => {
  if (error instanceof ConfigError) return (console.error(`nomnom: ${error.message}`), process.exit(2));
  if (error instanceof EntityDefinitionError) return (console.error(error.message), process.exit(1));
  console.error(`nomnom: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
