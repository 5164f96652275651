/**
 * nomnom's entry point: argv/env → the command (src/cli/commands.ts) and its config → run. Exit codes: 0 ok,
 * 1 failure (bad entities, cannot start), 2 bad configuration.
 */
import process from "node:process";
import { parseCommandLine } from "./src/cli/parse.ts";
import { ConfigError, EntityDefinitionError } from "./src/errors.ts";
import { redact } from "./src/log.ts";

async function main(): Promise<number> {
  const line = parseCommandLine(process.argv.slice(2), process.env);
  const out = (text: string) => console.log(text);
  if ("text" in line) return (out(line.text), 0);
  return await line.command.run({ config: line.config, args: line.args, out });
}

main().then((code) => process.exit(code), (error) => {
  if (error instanceof ConfigError) return (console.error(`nomnom: ${error.message}`), process.exit(2));
  if (error instanceof EntityDefinitionError) return (console.error(error.message), process.exit(1));
  console.error(redact(`nomnom: ${error instanceof Error ? error.message : String(error)}`));
  process.exit(1);
});
