/**
 * A port already taken is named with the setting that changes it, at once: the embedded PostgreSQL takes
 * seconds to start (initdb on a first run), and a listener's EADDRINUSE after all that, with no flag named,
 * was the demo's most common false start.
 */
import { createServer } from "node:net";
import type { Config } from "../config.ts";
import { ConfigError } from "../errors.ts";
import { type Setting, SETTINGS } from "../settings.ts";

/** The ports the role listens on, with their settings. */
function portsOf(config: Config): { port: number; setting: Setting }[] {
  if (config.role === "worker") return [{ port: config.opsPort, setting: SETTINGS.opsPort }];
  return [{ port: config.http.port, setting: SETTINGS.http.port }];
}

/** Throw a ConfigError naming the flag when a port of the role cannot be listened on. */
export async function checkPortsFree(config: Config): Promise<void> {
  for (const { port, setting } of portsOf(config)) {
    if (port === 0) continue;
    const problem = await tryListen(config.http.host, port);
    if (problem === undefined) continue;
    const why = problem === "EADDRINUSE" ? "is already in use" : `cannot be listened on (${problem})`;
    throw new ConfigError(
      `Port ${port} on ${config.http.host} ${why}: stop what holds it, or choose another port with ` +
        `--${setting.flag}=<port> (${setting.env}).`,
    );
  }
}

/** Listen and close at once: undefined when that worked, else the error code. */
function tryListen(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", (error) => resolve((error as { code?: string }).code ?? String(error)));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}
