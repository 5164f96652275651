/**
 * The status table's retention: one partition of `nomnom.messages` per UTC day of `received_at`, made ahead of
 * time, and dropped whole once the day is older than the retention. Dropping a partition costs the same for a
 * thousand rows or ten million, and leaves no dead tuples behind; the indexes a lookup uses are a day's.
 *
 * A row that is still needed when its day expires stays: a message in the dead-letter queue (it can be replayed
 * or dropped any time), or one still being retried or just replayed. Such a day is rewritten into a small
 * partition of the same range holding only those rows, so its status keeps its key `(message_id, received_at)`
 * and every later write of the message still lands on it.
 *
 * Runs in every role at start and then every hour, under an advisory lock that one role at a time takes (the
 * others skip that round). Each step is its own short transaction with a lock timeout: a step that cannot get
 * its lock is left for the next round, never waited for.
 */
import type { Logger } from "../log.ts";
import type { Sql } from "./connect.ts";
import { classifyDatabaseError } from "./sqlstate.ts";
import type { MessageStatus } from "./status.ts";
import { NOMNOM_SCHEMA, STATUS_COLUMNS, STATUS_DEFAULT_PARTITION, STATUS_TABLE } from "./statements.ts";

/** Days of partitions made ahead of today, so that a clock a little ahead or a missed round writes no default rows. */
export const PARTITION_DAYS_AHEAD = 2;

/** How often the retention runs while a role runs. */
export const RETENTION_INTERVAL_MS = 60 * 60 * 1000;

/** Longest wait for a table lock in one retention step; the step is then left for the next round. */
const STEP_LOCK_TIMEOUT_MS = 1_000;

const RETENTION_LOCK = 0x6e6f6d72; // "nomr"

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Statuses whose rows outlive the retention: the message is not done yet. In the dead-letter queue (it can be
 * replayed or dropped any time), being retried, or replayed and waiting in the stream.
 */
export const KEPT_STATUSES = ["accepted", "retrying", "dlq"] as const satisfies readonly MessageStatus[];

const table = `${NOMNOM_SCHEMA}.${STATUS_TABLE.name}`;
const columns = STATUS_COLUMNS.join(", ");

/** The partition holding the rows received on the UTC day that starts at `day` (ms since the epoch). */
export function partitionName(day: number): string {
  return `${STATUS_TABLE.name}_${new Date(day).toISOString().slice(0, 10).replaceAll("-", "")}`;
}

/** Start (ms) of the UTC day of a partition name, or undefined for another table (the default partition). */
export function partitionDay(name: string): number | undefined {
  const m = /^messages_(\d{4})(\d{2})(\d{2})$/.exec(name);
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : undefined;
}

const startOfDay = (ms: number) => Math.floor(ms / DAY_MS) * DAY_MS;

/** What one round did. */
export type RetentionReport = {
  /** Partitions made (with the rows moved into them from the default partition). */
  created: string[];
  /** Partitions dropped whole. */
  dropped: string[];
  /** Expired partitions rewritten to keep their unfinished messages, with how many rows stayed. */
  kept: { partition: string; rows: number }[];
  /** Finished rows older than the retention deleted from the default partition. */
  cleaned: number;
  /** Steps left for the next round (a lock not granted in time, or a deadlock PostgreSQL broke). */
  deferred: string[];
};

export type RetentionOptions = { retentionDays: number; now?: number; log?: Logger };

/**
 * One round: clean the default partition, make the partitions from the retention's first day to
 * PARTITION_DAYS_AHEAD days ahead, drop (or rewrite) the expired ones. Undefined when another role holds the
 * round's lock.
 */
export async function maintainStatusPartitions(
  sql: Sql,
  { retentionDays, now = Date.now(), log }: RetentionOptions,
): Promise<RetentionReport | undefined> {
  const report: RetentionReport = { created: [], dropped: [], kept: [], cleaned: 0, deferred: [] };
  const cutoff = now - retentionDays * DAY_MS;
  const step = async (name: string, run: (tx: Sql) => Promise<void>): Promise<boolean> => {
    try {
      return await sql.begin(async (tx) => {
        const t = tx as unknown as Sql;
        const [{ locked }] = await t`SELECT pg_try_advisory_xact_lock(${RETENTION_LOCK}) AS locked`;
        if (!locked) return false;
        await t.unsafe(`SET LOCAL lock_timeout = ${STEP_LOCK_TIMEOUT_MS}`);
        await run(t);
        return true;
      }) as boolean;
    } catch (error) {
      if (classifyDatabaseError(error) !== "lock_conflict") throw error;
      report.deferred.push(name);
      return true;
    }
  };

  const cleaned = await step("clean the default partition", async (t) => {
    const rows = await t.unsafe(
      `DELETE FROM ${NOMNOM_SCHEMA}.${STATUS_DEFAULT_PARTITION} WHERE received_at < $1
         AND status <> ALL($2::text[])`,
      [new Date(cutoff), KEPT_STATUSES],
    );
    report.cleaned = rows.count;
  });
  if (!cleaned) return undefined;

  const existing = new Set(
    (await sql`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = ${table}::regclass`).map((r) => r.name as string),
  );
  for (let day = startOfDay(cutoff); day <= startOfDay(now) + PARTITION_DAYS_AHEAD * DAY_MS; day += DAY_MS) {
    const name = partitionName(day);
    if (existing.has(name)) continue;
    await step(`create ${name}`, async (t) => {
      const from = new Date(day), to = new Date(day + DAY_MS);
      await t.unsafe(
        `CREATE TABLE ${NOMNOM_SCHEMA}.${name} (LIKE ${table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`,
      );
      // Rows of this day written while it had no partition (a clock ahead, a converted table) move into it;
      // ATTACH checks that the default partition holds none of the day's rows any more.
      await t.unsafe(
        `WITH moved AS (DELETE FROM ${NOMNOM_SCHEMA}.${STATUS_DEFAULT_PARTITION}
           WHERE received_at >= $1 AND received_at < $2 RETURNING ${columns})
         INSERT INTO ${NOMNOM_SCHEMA}.${name} (${columns}) SELECT ${columns} FROM moved`,
        [from, to],
      );
      await t.unsafe(
        `ALTER TABLE ${table} ATTACH PARTITION ${NOMNOM_SCHEMA}.${name}
         FOR VALUES FROM ('${from.toISOString()}') TO ('${to.toISOString()}')`,
      );
      report.created.push(name);
    });
  }

  for (const name of [...existing].sort()) {
    const day = partitionDay(name);
    if (day === undefined || day + DAY_MS > cutoff) continue;
    await step(`expire ${name}`, async (t) => {
      // Writers lock the parent before a partition: so do we, so that no write can slip between the copy of the
      // kept rows and the drop.
      await t.unsafe(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      const partition = `${NOMNOM_SCHEMA}.${name}`;
      const [{ keep, done }] = await t.unsafe(
        `SELECT EXISTS (SELECT 1 FROM ${partition} WHERE status = ANY($1::text[])) AS keep,
                EXISTS (SELECT 1 FROM ${partition} WHERE status <> ALL($1::text[])) AS done`,
        [KEPT_STATUSES],
      );
      if (!keep) {
        await t.unsafe(`DROP TABLE ${partition}`);
        report.dropped.push(name);
        return;
      }
      if (!done) return; // every row still needed: nothing to gain
      const from = new Date(day), to = new Date(day + DAY_MS);
      const kept = `${name}_kept`;
      await t.unsafe(
        `CREATE TABLE ${NOMNOM_SCHEMA}.${kept} (LIKE ${table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`,
      );
      const rows = await t.unsafe(
        `INSERT INTO ${NOMNOM_SCHEMA}.${kept} (${columns}) SELECT ${columns} FROM ${partition}
         WHERE status = ANY($1::text[])`,
        [KEPT_STATUSES],
      );
      await t.unsafe(`DROP TABLE ${partition}`);
      await t.unsafe(`ALTER TABLE ${NOMNOM_SCHEMA}.${kept} RENAME TO ${name}`);
      await t.unsafe(
        `ALTER TABLE ${table} ATTACH PARTITION ${partition}
         FOR VALUES FROM ('${from.toISOString()}') TO ('${to.toISOString()}')`,
      );
      report.kept.push({ partition: name, rows: rows.count });
    });
  }
  if (log) {
    if (report.created.length > 0) log.info("status partitions created", { partitions: report.created });
    if (report.dropped.length > 0) {
      log.info("expired status partitions dropped", { partitions: report.dropped });
    }
    for (const k of report.kept) {
      log.info("expired status partition rewritten, keeping its unfinished messages", k);
    }
    if (report.cleaned > 0) log.info("expired status rows deleted from the default partition", report);
    if (report.deferred.length > 0) {
      log.warn("status retention steps deferred to the next round (a lock was busy)", {
        steps: report.deferred,
      });
    }
  }
  return report;
}

/** Run the retention now and then every `intervalMs`; a failed round is logged and tried again next time. */
export async function startStatusRetention(
  sql: Sql,
  options: Omit<RetentionOptions, "now"> & { log: Logger; intervalMs?: number },
): Promise<{ stop(): Promise<void> }> {
  let running: Promise<unknown> | undefined;
  const round = () =>
    running ??= maintainStatusPartitions(sql, options).catch((error) => {
      options.log.warn("status retention failed; it runs again in an hour", { error });
    }).finally(() => running = undefined);
  await round();
  const timer = setInterval(round, options.intervalMs ?? RETENTION_INTERVAL_MS);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
