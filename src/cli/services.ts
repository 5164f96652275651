/**
 * The NATS and PostgreSQL a command talks to: the configured URLs. A command that needs one that is not set
 * stops with an error naming the flag and its env variable.
 */
import type { Config } from "../config.ts";
import { ConfigError } from "../errors.ts";

type Service = "nats-url" | "database-url";

const NAMES = {
  "nats-url": { env: "NATS_URL", what: "NATS", key: "natsUrl" },
  "database-url": { env: "DATABASE_URL", what: "PostgreSQL", key: "databaseUrl" },
} as const;

/** The URLs `who` needs, or a ConfigError naming the first one missing. */
export function requireServices(
  config: Config,
  who: string,
  needs: Service[],
): { natsUrl?: string; databaseUrl?: string } {
  const found: { natsUrl?: string; databaseUrl?: string } = {};
  for (const need of needs) {
    const { env, what, key } = NAMES[need];
    const url = config[key];
    if (!url) {
      throw new ConfigError(
        `${who} needs --${need} (${env}): the embedded ${what} only serves a single process running --role=all.`,
      );
    }
    found[key] = url;
  }
  return found;
}
