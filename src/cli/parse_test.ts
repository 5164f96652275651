import assert from "node:assert/strict";
import { ConfigError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { COMMANDS } from "./commands.ts";
import { type CommandLine, parseCommandLine } from "./parse.ts";

const text = (line: CommandLine) => ("text" in line ? line.text : assert.fail("expected a text to print"));
const parsed = (line: CommandLine) => ("command" in line ? line : assert.fail("expected a command"));
const fails = (argv: string[], message: RegExp) =>
  assert.throws(() => parseCommandLine(argv, {}), (e: Error) => {
    assert.ok(e instanceof ConfigError, e.message);
    assert.match(e.message, message);
    return true;
  });

Deno.test("parseCommandLine() runs `run` when argv names no command, and finds the command after flags", () => {
  assert.equal(parsed(parseCommandLine([], {})).command.name, "run");
  assert.equal(parsed(parseCommandLine(["--role=all"], {})).command.name, "run");
  const topology = parsed(parseCommandLine(["--namespace", "shop", "topology"], {}));
  assert.equal(topology.command.name, "topology");
  assert.equal(topology.config.namespace, "shop");
});

Deno.test("parseCommandLine() answers --version, help and help <command>", () => {
  assert.equal(text(parseCommandLine(["--version"], {})), `nomnom ${VERSION}`);
  const overview = text(parseCommandLine(["help"], {}));
  for (const c of COMMANDS) {
    assert.match(overview, new RegExp(`^  ${c.usage.replace(/[[\]|]/g, "\\$&")} `, "m"));
  }
  assert.equal(text(parseCommandLine(["--help"], {})), overview);
  assert.equal(text(parseCommandLine(["help", "dlq"], {})), text(parseCommandLine(["dlq", "--help"], {})));
});

Deno.test("`nomnom <command> --help` lists that command's flags and settings only", () => {
  const dlq = text(parseCommandLine(["dlq", "--help"], {}));
  assert.match(dlq, /--entity <value> +only this entity/);
  assert.match(dlq, /--nats-url <value> .*env NATS_URL or a file named by NATS_URL_FILE/);
  assert.doesNotMatch(dlq, /--batch-size/);
  const validate = text(parseCommandLine(["validate", "--help"], {}));
  assert.match(validate, /--entities <value>/);
  assert.doesNotMatch(validate, /--entity |--database-url|--port/);
  assert.match(
    text(parseCommandLine(["run", "--help"], {})),
    /--batch-size <value> .*NOMNOM_BATCH_SIZE, default 500/,
  );
});

Deno.test("parseCommandLine() names an unknown command, action or flag with the closest known one", () => {
  fails(["valdate"], /^Unknown command "valdate"; did you mean validate\?/);
  fails(["frobnicate"], /^Unknown command "frobnicate"\. Commands: run, validate/);
  fails(["dlq", "lst"], /^Unknown action "lst" of "nomnom dlq"; did you mean list\? Actions: list, show/);
  fails(["--prot=80"], /^Unknown flag --prot for "nomnom run"; did you mean --port\?/);
  fails(["--prot", "80"], /^Unknown flag --prot for "nomnom run"; did you mean --port\?/);
  fails(
    ["--entitis", "shop", "validate"],
    /^Unknown flag --entitis for "nomnom validate"; did you mean --entities\?/,
  );
  fails(["healthcheck", "raedy"], /^Unknown action "raedy" of "nomnom healthcheck"; did you mean ready\?/);
  fails(["dlq", "list", "--entitiy=Order"], /did you mean --entity\?/);
  fails(
    ["validate", "--colour"],
    /^Unknown flag --colour for "nomnom validate"\. Run "nomnom validate --help"/,
  );
  fails(["help", "dql"], /did you mean dlq\?/);
});

Deno.test("a flag of another command is refused naming where it belongs; its env twin still applies", () => {
  fails(
    ["validate", "--batch-size=3"],
    /^--batch-size does not apply to "nomnom validate" \(it is a flag of nomnom run, nomnom kubernetes\)/,
  );
  fails(
    ["topology", "--entity=Order"],
    /--entity does not apply to "nomnom topology" \(it is a flag of nomnom dlq\)/,
  );
  const validate = parsed(parseCommandLine(["validate"], { NOMNOM_BATCH_SIZE: "3" }));
  assert.equal(validate.config.worker.batchSize, 3);
});

Deno.test("command arguments are parsed by their command, apart from the deployment settings", () => {
  const dlq = parsed(parseCommandLine(["dlq", "replay", "--entity=Order", "--all", "--limit=5"], {}));
  assert.deepEqual(dlq.args, {
    action: "replay",
    id: undefined,
    filter: { entity: "Order", error: undefined, since: undefined, until: undefined },
    limit: 5,
    all: true,
  });
  assert.equal(parsed(parseCommandLine(["healthcheck", "ready"], {})).args, "ready");
  fails(["healthcheck", "soon"], /takes "health" \(default\) or "ready"/);
  fails(["dlq", "show"], /"nomnom dlq show" needs a message id/);
  fails(["dlq", "list", "--limit=5000"], /--limit="5000": must be a whole number from 1 to 1000/);
  fails(["dlq", "drop", ">"], /">" is not a message id/);
  fails(["migrate", "now"], /"nomnom migrate" takes no argument, not "now"/);
  fails(["migrate", "--plan", "--apply"], /"nomnom migrate" takes --plan or --apply, not both/);
  fails(["--port"], /--port/);
});
