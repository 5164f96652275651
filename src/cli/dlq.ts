/**
 * `nomnom dlq list|show|replay|drop`: the dead-letter queue from the command line, over the same service the
 * API uses (so the two cannot differ).
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import process from "node:process";
import type { Config } from "../config.ts";
import { connectDatabase } from "../db/connect.ts";
import { ConfigError } from "../errors.ts";
import {
  createDeadLetters,
  type DeadLetters,
  DLQ_PAGE,
  DlqConflictError,
} from "../lifecycle/dead_letters.ts";
import { isMessageId } from "../stream/message_id.ts";
import type { Logger } from "../log.ts";
import type { Registry } from "../registry/types.ts";
import { connectNats } from "../stream/connect.ts";
import { createTopology } from "../stream/topology.ts";
import { SETTINGS } from "../settings.ts";
import { suggest } from "../suggest.ts";
import { createCliLogger, defineCommand, type FlagValues, loadEntities, unexpected } from "./command.ts";
import { findServices } from "./services.ts";

const ACTIONS = ["list", "show", "replay", "drop"] as const;

/** `nomnom dlq <action> [id]` with its filter. */
export type DlqArgs = {
  action: (typeof ACTIONS)[number];
  id?: string;
  filter: { entity?: string; error?: string; since?: string; until?: string };
  limit: number;
  all: boolean;
};

/** The `dlq` command. */
export const dlqCommand = defineCommand<DlqArgs>({
  name: "dlq",
  usage: "dlq list|show|replay|drop [id]",
  summary: "the dead-letter queue: list, show <id>, replay <id> or a filter, drop <id>",
  description: "A bulk replay needs a filter (--entity, --error, --since, --until) or --all.",
  flags: {
    entity: { type: "string", help: "only this entity" },
    error: { type: "string", help: "only errors containing this text" },
    since: { type: "string", help: "dead-lettered at or after (ISO 8601)" },
    until: { type: "string", help: "dead-lettered before (ISO 8601)" },
    limit: {
      type: "string",
      help: `list: at most this many (default ${DLQ_PAGE.default}, at most ${DLQ_PAGE.max})`,
    },
    all: { type: "boolean", help: "replay: every dead letter (when no other filter is given)" },
  },
  settings: [
    "entities",
    "namespace",
    "nats-url",
    ...Object.values(SETTINGS.nats).map((s) => s.flag),
    "database-url",
    "postgres-ca-file",
    "data-dir",
    "log-level",
    "log-format",
  ],
  parse: parseDlqArgs,
  async run({ config, args, out }) {
    const log = createCliLogger(config, "dlq");
    const services = await findServices(config, "nomnom dlq", ["natsUrl", "databaseUrl"], log);
    return await runDlq({ ...config, ...services }, args, await loadEntities(config.entitiesDir), log, out);
  },
});

function parseDlqArgs(positionals: string[], flags: FlagValues): DlqArgs {
  const [action, id, ...more] = positionals;
  if (action === undefined) throw new ConfigError(`"nomnom dlq" needs an action: ${ACTIONS.join(", ")}.`);
  if (!(ACTIONS as readonly string[]).includes(action)) {
    throw new ConfigError(
      `Unknown action "${action}" of "nomnom dlq"${suggest(action, ACTIONS) || "."} ` +
        `Actions: ${ACTIONS.join(", ")}.`,
    );
  }
  if (more.length > 0) throw unexpected("dlq", more);
  if ((action === "show" || action === "drop") && !id) {
    throw new ConfigError(`"nomnom dlq ${action}" needs a message id.`);
  }
  // An id becomes part of a NATS subject, where `*` or `>` would match (and act on) other messages' entries.
  if (id !== undefined && !isMessageId(id)) {
    throw new ConfigError(
      `nomnom dlq ${action}: "${id}" is not a message id (a UUID such as ` +
        `0193a0c0-1d2e-7f00-8000-000000000000, or seq-<n>).`,
    );
  }
  const limit = Number(flags.limit ?? DLQ_PAGE.default);
  if (!Number.isInteger(limit) || limit < 1 || limit > DLQ_PAGE.max) {
    throw new ConfigError(
      `Invalid --limit="${flags.limit}": must be a whole number from 1 to ${DLQ_PAGE.max}.`,
    );
  }
  const text = (name: string) => flags[name] as string | undefined;
  return {
    action: action as DlqArgs["action"],
    id,
    filter: { entity: text("entity"), error: text("error"), since: text("since"), until: text("until") },
    limit,
    all: flags.all === true,
  };
}

/** Run one dlq action; returns the exit code. */
export async function runDlq(
  config: Config,
  dlq: DlqArgs,
  registry: Registry,
  log: Logger,
  out: (line: string) => void,
): Promise<number> {
  const { nc } = await connectNats(config.natsUrl!, config.nats, "nomnom-dlq-cli", log);
  const sql = await connectDatabase(config.databaseUrl!, 1, log, { caFile: config.postgresCaFile });
  try {
    const deadLetters = createDeadLetters(
      sql,
      jetstream(nc),
      await jetstreamManager(nc),
      createTopology(config, registry),
    );
    try {
      return await act(deadLetters);
    } catch (error) {
      if (!(error instanceof DlqConflictError)) throw error;
      out(error.message);
      return 1;
    }
  } finally {
    await sql.end({ timeout: 5 });
    await nc.close();
  }

  async function act(deadLetters: DeadLetters): Promise<number> {
    switch (dlq.action) {
      case "list": {
        const page = await deadLetters.list(dlq.filter, { limit: dlq.limit });
        if (page.entries.length === 0) out("the dead-letter queue has no matching message");
        for (const e of page.entries) {
          out(`${e.message_id}  ${e.entity}  ${e.dead_at}  attempts ${e.attempts}  ${e.error ?? ""}`);
        }
        if (page.next_cursor) out(`… more: narrow the filter or raise --limit (at most ${DLQ_PAGE.max})`);
        return 0;
      }
      case "show": {
        const entry = await deadLetters.show(dlq.id!);
        if (!entry) return notFound(dlq.id!, out);
        out(JSON.stringify(entry, null, 2));
        return 0;
      }
      case "replay": {
        if (dlq.id) {
          const replayed = await deadLetters.replay(dlq.id);
          if (!replayed) return notFound(dlq.id, out);
          out(`replayed ${replayed.message_id} (${replayed.entity}): status accepted`);
          return 0;
        }
        const f = dlq.filter;
        if (!dlq.all && !f.entity && !f.error && !f.since && !f.until) {
          out("replay what? give a message id, a filter (--entity, --error, --since, --until) or --all");
          return 2;
        }
        const report = await deadLetters.replayMatching(f, progressBar("replaying"));
        out(`matched ${report.matched}, replayed ${report.replayed}, failed ${report.failed}`);
        for (const e of report.errors) out(`  ${e}`);
        return report.failed > 0 ? 1 : 0;
      }
      case "drop": {
        if (!await deadLetters.drop(dlq.id!)) return notFound(dlq.id!, out);
        out(`dropped ${dlq.id}`);
        return 0;
      }
    }
  }
}

function notFound(id: string, out: (line: string) => void): number {
  out(`message ${id} is not in the dead-letter queue`);
  return 1;
}

/** A progress bar on stderr when it is a terminal; a line per 10 % otherwise. */
function progressBar(label: string): (done: number, total: number) => void {
  const tty = process.stderr.isTTY === true;
  let lastDecile = -1;
  return (done, total) => {
    if (tty) {
      const width = 30;
      const filled = Math.round((done / total) * width);
      process.stderr.write(
        `\r${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total}`,
      );
      if (done === total) process.stderr.write("\n");
      return;
    }
    const decile = Math.floor((done / total) * 10);
    if (decile !== lastDecile) {
      lastDecile = decile;
      process.stderr.write(`${label}: ${done}/${total}\n`);
    }
  };
}
