/** `nomnom healthcheck [ready]`: exit 0 when the local process answers 200 (for container HEALTHCHECKs). */
import type { Config } from "../config.ts";
import { ConfigError } from "../errors.ts";
import { defineCommand } from "./command.ts";

type Endpoint = "health" | "ready";

/** The `healthcheck` command. */
export const healthcheckCommand = defineCommand<Endpoint>({
  name: "healthcheck",
  usage: "healthcheck [ready]",
  summary: "GET /health (or /ready) of the local process; exit 0 on a 200",
  description: "For container HEALTHCHECKs: --role=api asks --port, --role=worker asks --ops-port, no role " +
    "asks --port, then --ops-port.",
  settings: ["role", "port", "ops-port"],
  parse(positionals) {
    const [endpoint = "health", ...more] = positionals;
    if (more.length > 0 || (endpoint !== "ready" && endpoint !== "health")) {
      throw new ConfigError(`"nomnom healthcheck" takes "health" (default) or "ready".`);
    }
    return endpoint;
  },
  run: ({ config, args, out }) => runHealthcheck(config, out, args),
});

/**
 * With --role=api the API port, with --role=worker the ops port; otherwise (the image's one HEALTHCHECK line,
 * whatever role the container runs) the API port, then the ops port.
 */
export async function runHealthcheck(
  config: Config,
  out: (line: string) => void,
  endpoint: Endpoint = "health",
): Promise<number> {
  const ports = config.role === "worker"
    ? [config.opsPort]
    : config.role === "api"
    ? [config.http.port]
    : [config.http.port, config.opsPort];
  const answers: string[] = [];
  for (const port of ports) {
    const url = `http://127.0.0.1:${port}/${endpoint}`;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
      out(`${url}: ${response.status} ${await response.text()}`);
      return response.status === 200 ? 0 : 1;
    } catch (error) {
      answers.push(`${url}: ${(error as Error).message}`);
    }
  }
  answers.forEach(out);
  return 1;
}
