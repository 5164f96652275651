/** `nomnom [run]`: start the role's modules (src/app.ts), print the banner, stop gracefully on a signal. */
import process from "node:process";
import type { Running } from "../app.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { createBanner } from "./banner.ts";
import { createCliLogger, defineCommand, loadEntities } from "./command.ts";
import { writeDemoServices } from "../embedded/data_dir.ts";
import { type EmbeddedPostgres, startEmbeddedPostgres, usesEmbeddedPostgres } from "../embedded/postgres.ts";
import { checkPortsFree } from "./ports.ts";
import { EMBEDDED_NATS, requireNoSecurity } from "../stream/nats_options.ts";
import { requireServices } from "./services.ts";
import { createSignalTally } from "./signals.ts";

/** The `run` command (the default). */
export const runCommand = defineCommand({
  name: "run",
  usage: "[run] [--role=api|worker|all]",
  summary: "run the pipeline (default role: all)",
  description:
    "Runs the modules of --role: api, worker, or all (both in one process; on embedded PostgreSQL " +
    "and NATS when --database-url and --nats-url are unset).",
  settings: "all",
  async run({ config }) {
    // The embedded services serve one process only: a role of its own needs real ones.
    if (config.role !== "all") requireServices(config, `--role=${config.role}`, ["natsUrl", "databaseUrl"]);
    if (!config.natsUrl) requireNoSecurity(config.nats, EMBEDDED_NATS);
    await checkPortsFree(config);
    const log = createCliLogger(config, config.role);
    // Nothing is expected here: postgres.js's write on a closed socket, which used to land here when PostgreSQL
    // cut a connection, is patched at its source (patches/postgres+3.4.9.patch).
    process.on("uncaughtException", (error) => {
      log.error("uncaught exception; exiting", { error });
      process.exit(1);
    });
    // A rejection nobody awaits is a bug, but not one that may stop ingestion: under PostgreSQL faults the Bun
    // binary was killed by a postgres.js connection error (CONNECTION_CLOSED, ECONNREFUSED) that no caller was
    // waiting for, while every query someone awaited was retried as it should be. Nothing is lost by going on:
    // work is committed before it is acked. Logged with its stack so that it can be found and fixed.
    process.on("unhandledRejection", (reason) => {
      log.error("unhandled promise rejection (a bug in nomnom or a library; please report it); continuing", {
        error: reason,
        stack: (reason as Error)?.stack?.split("\n").slice(0, 8).join(" | "),
      });
    });
    // The first press of Ctrl-C (or a SIGTERM) starts a graceful shutdown, the same press forwarded again by a
    // wrapper is ignored, and a second press exits at once (signals.ts). Nothing is lost either way: unacked
    // messages are redelivered. Listened for before the roles start: under Deno a listener added just now does
    // not yet catch a signal sent a moment later (the process dies of it), so one added after start-up left a
    // window right after the banner; a signal during start-up stops once started.
    const tally = createSignalTally();
    const stopSignal = new Promise<string>((resolve) => {
      for (const name of ["SIGINT", "SIGTERM"] as const) {
        process.on(name, () => {
          const meaning = tally();
          if (meaning === "stop") return resolve(name);
          if (meaning === "force") {
            log.warn("second signal: exiting without finishing the graceful stop", { signal: name });
            process.exit(130);
          }
          log.debug("ignored a repeated signal (the same Ctrl-C, forwarded)", { signal: name });
        });
      }
    });
    const started = performance.now();
    // The embedded database first: PGlite's start, on its own thread, is most of the demo's start, and runs
    // while the entities and the roles' modules (src/app.ts and all it imports) load here. The database
    // module takes it over (and reports its failure); a start that fails before that stops it again.
    const postgres = usesEmbeddedPostgres(config) ? startEmbeddedPostgres(config.dataDir, log) : undefined;
    postgres?.catch(() => {});
    const running = await startRoles(config, log, postgres).catch(async (error) => {
      // The start's own error is what the user must see: a database that also fails to stop is only logged.
      await postgres?.then((pg) => pg.stop(), () => {}).catch((stopError) => {
        log.warn("the embedded PostgreSQL did not stop cleanly after the failed start", { error: stopError });
      });
      throw error;
    });
    const { embedded } = running.runtime;
    // `nomnom dlq` and `nomnom migrate` find the demo's services here (src/cli/services.ts).
    const forget = embedded.nats || embedded.postgres
      ? await writeDemoServices(config.dataDir, { natsUrl: embedded.nats, databaseUrl: embedded.postgres })
      : async () => {};
    if (running.runtime.server) {
      console.log(createBanner(running.runtime, Math.round(performance.now() - started)));
    }
    const signal = await stopSignal;
    // Readiness turns 503 at once. On SIGTERM (an orchestrator) an API keeps serving for --shutdown-drain-ms, so
    // that a load balancer sees the 503 and sends no more before the listener closes (Kubernetes removes an
    // endpoint asynchronously); SIGINT is a person's Ctrl-C, with no load balancer to wait for. Then the API
    // finishes its in-flight requests, the worker its batch, and NATS is drained, within --shutdown-timeout-ms.
    running.runtime.stopping = true;
    await forget();
    const drainMs = running.runtime.server && signal === "SIGTERM" ? config.shutdownDrainMs : 0;
    log.info("stopping", { signal, drain_ms: drainMs, deadline_ms: config.shutdownTimeoutMs });
    if (drainMs > 0) await new Promise((resolve) => setTimeout(resolve, drainMs));
    const deadline = new Promise<false>((r) =>
      setTimeout(() => r(false), config.shutdownTimeoutMs).unref?.()
    );
    if (!await Promise.race([running.stop().then(() => true as const), deadline])) {
      log.error("graceful shutdown did not finish before the deadline; exiting");
      return 1;
    }
    log.info("stopped");
    return 0;
  },
});

/** Load the entities and start the role's modules, on the embedded database `postgres` has begun, if any. */
async function startRoles(
  config: Config,
  log: Logger,
  postgres: Promise<EmbeddedPostgres> | undefined,
): Promise<Running> {
  const registry = await loadEntities(config.entitiesDir);
  const { run } = await import("../app.ts");
  return await run(config.role, { config, registry, log, prestarted: { postgres } });
}
