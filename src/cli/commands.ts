/**
 * The command table: every `nomnom <command>`, in the order `nomnom help` lists them. A command is declared in
 * its own file (name, summary, flags, the settings it reads, run); add it here to make it exist.
 */
import type { Command } from "./command.ts";
import { dlqCommand } from "./dlq.ts";
import { healthcheckCommand } from "./healthcheck.ts";
import { kubernetesCommand } from "./kubernetes.ts";
import { migrateCommand } from "./migrate.ts";
import { runCommand } from "./run.ts";
import { topologyCommand } from "./topology.ts";
import { validateCommand } from "./validate.ts";

/** Every command; `run` is the default when argv names none. */
export const COMMANDS: readonly Command[] = [
  runCommand,
  validateCommand,
  migrateCommand,
  topologyCommand,
  dlqCommand,
  healthcheckCommand,
  kubernetesCommand,
];
