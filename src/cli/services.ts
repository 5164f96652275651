/**
 * The NATS and PostgreSQL a command talks to: the configured URLs, or else those of the demo running on
 * --data-dir (it writes its embedded services' addresses there), so that `nomnom dlq list` and
 * `nomnom migrate` work next to `deno task demo` with nothing to copy. A command that finds neither stops with
 * an error naming the flag and its env variable.
 */
import type { Config } from "../config.ts";
import { readDemoServices } from "../embedded/data_dir.ts";
import { ConfigError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { SETTINGS } from "../settings.ts";
import { requireNoSecurity } from "../stream/nats_options.ts";

type Need = "natsUrl" | "databaseUrl";
type Found = { natsUrl?: string; databaseUrl?: string };

const WHAT = { natsUrl: "NATS", databaseUrl: "PostgreSQL" } as const;

/** The URLs `who` needs from the settings alone: a role of its own never uses a demo's embedded services. */
export function requireServices(config: Config, who: string, needs: Need[]): Found {
  const missing = needs.find((need) => !config[need]);
  if (missing) {
    const s = SETTINGS[missing];
    throw new ConfigError(
      `${who} needs --${s.flag} (${s.env}): the embedded ${WHAT[missing]} only serves a single process ` +
        `running --role=all.`,
    );
  }
  return Object.fromEntries(needs.map((need) => [need, config[need]]));
}

/** The URLs `who` needs: from the settings, else from the demo running on --data-dir. */
export async function findServices(config: Config, who: string, needs: Need[], log: Logger): Promise<Found> {
  if (needs.every((need) => config[need])) return requireServices(config, who, needs);
  const demo = await readDemoServices(config.dataDir);
  const found: Found = {};
  for (const need of needs) {
    const url = config[need] ?? demo?.[need];
    if (!url) {
      const s = SETTINGS[need];
      throw new ConfigError(
        `${who} needs --${s.flag} (${s.env}), or a demo running on --data-dir=${config.dataDir} ` +
          `(none runs there).`,
      );
    }
    found[need] = url;
  }
  if (!config.natsUrl && found.natsUrl) {
    requireNoSecurity(config.nats, `the NATS URL comes from the demo on --data-dir=${config.dataDir}`);
  }
  if (demo) {
    log.info("using the services of the demo running on the data dir", { file: demo.path, pid: demo.pid });
  }
  return found;
}
