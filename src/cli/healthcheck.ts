/**
 * `nomnom healthcheck [ready]`: exit 0 when the local process answers 200 (for container HEALTHCHECKs). With
 * --tls-cert it asks over HTTPS without checking the certificate, and only ever 127.0.0.1: it sends nothing
 * secret (no key, /health and /ready are open), learns only up or down, and a certificate issued for the
 * service's public name does not name 127.0.0.1, so checking it would fail every healthy process. Kubernetes'
 * HTTPS probes skip the check for the same reason.
 */
import { get } from "node:https";
import { servesHttps } from "../api/server_tls.ts";
import type { Config } from "../config.ts";
import { ConfigError } from "../errors.ts";
import { suggest } from "../suggest.ts";
import { defineCommand } from "./command.ts";

type Endpoint = "health" | "ready";

/** The `healthcheck` command. */
export const healthcheckCommand = defineCommand<Endpoint>({
  name: "healthcheck",
  usage: "healthcheck [ready]",
  summary: "GET /health (or /ready) of the local process; exit 0 on a 200",
  description: "For container HEALTHCHECKs: --role=api asks --port, --role=worker asks --ops-port, no role " +
    "asks --port, then --ops-port. With --tls-cert over HTTPS, on 127.0.0.1, without checking the certificate.",
  settings: ["role", "port", "ops-port", "tls-cert"],
  parse(positionals) {
    const [endpoint = "health", ...more] = positionals;
    if (more.length > 0) throw new ConfigError(`"nomnom healthcheck" takes "health" (default) or "ready".`);
    if (endpoint !== "ready" && endpoint !== "health") {
      throw new ConfigError(
        `Unknown action "${endpoint}" of "nomnom healthcheck"${
          suggest(endpoint, ["health", "ready"]) || "."
        } ` +
          `It takes "health" (default) or "ready".`,
      );
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
  const ask = servesHttps(config) ? askLoopbackHttps : askHttp;
  for (const port of ports) {
    const url = `${servesHttps(config) ? "https" : "http"}://127.0.0.1:${port}/${endpoint}`;
    try {
      const { status, body } = await ask(url);
      out(`${url}: ${status} ${body}`);
      return status === 200 ? 0 : 1;
    } catch (error) {
      answers.push(`${url}: ${(error as Error).message}`);
    }
  }
  answers.forEach(out);
  return 1;
}

type Answer = { status: number; body: string };

async function askHttp(url: string): Promise<Answer> {
  const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return { status: response.status, body: await response.text() };
}

/** GET over HTTPS to the local process, certificate unchecked (see the top of this file for why). */
function askLoopbackHttps(url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = get(url, { rejectUnauthorized: false, timeout: 3000 }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => body += chunk);
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error("no answer within 3 s")));
    request.on("error", reject);
  });
}
