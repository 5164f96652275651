/**
 * `nomnom dlq list|show|replay|drop`: the dead-letter queue from the command line, over the same service the
 * API uses (so the two cannot differ).
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import process from "node:process";
import type { Config } from "./config.ts";
import { connectDatabase } from "./db/connect.ts";
import { createDeadLetters, type DeadLetters, DLQ_PAGE, DlqConflictError } from "./lifecycle/dead_letters.ts";
import { isMessageId } from "./stream/message_id.ts";
import type { Logger } from "./log.ts";
import type { Registry } from "./registry/types.ts";
import { connectNats } from "./stream/connect.ts";
import { createTopology } from "./stream/topology.ts";

/** Run one dlq action; returns the exit code. */
export async function runDlq(
  config: Config,
  registry: Registry,
  log: Logger,
  out: (line: string) => void,
): Promise<number> {
  const dlq = config.dlq!;
  // An id becomes part of a NATS subject, where `*` or `>` would match (and act on) other messages' entries.
  if (dlq.id !== undefined && !isMessageId(dlq.id)) {
    process.stderr.write(
      `nomnom dlq ${dlq.action}: "${dlq.id}" is not a message id (a UUID such as ` +
        `0193a0c0-1d2e-7f00-8000-000000000000, or seq-<n>)\n`,
    );
    return 2;
  }
  const { nc } = await connectNats(config.natsUrl!, "nomnom-dlq-cli", log);
  const sql = await connectDatabase(config.databaseUrl!, 1, log);
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
