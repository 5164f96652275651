/**
 * Which entities' tables match their entities, kept current while a role runs. A start migrates once; then the
 * watch compares again every `intervalMs` (making the safe changes, as a start would: a column dropped by hand
 * comes back), and at once when the worker reports a write error that means the schema changed under it. An
 * entity with a mismatch is "held": the worker leaves its messages in the stream, readiness fails naming it,
 * the gauge `nomnom_schema_mismatch{entity}` is 1, one error line is logged, and /stats lists it. When the
 * table matches again the entity is released by itself and its messages flow.
 */
import type { Logger } from "../log.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { Registry } from "../registry/types.ts";
import type { Sql } from "./connect.ts";
import { migrate, type MigrationResult } from "./migrate.ts";
import { describeProblem } from "./schema_diff.ts";

/** An entity (root or reference: what a message is) whose messages are held, and why. */
export type Mismatch = { entity: string; since: string; problems: string[] };

export type SchemaWatch = {
  /** The held entities. */
  mismatches(): Mismatch[];
  /** True while messages of `entity` (an ingestible entity) must wait. */
  isHeld(entity: string): boolean;
  /** A write of `entity`'s messages failed with a schema error: hold it now, and compare again soon. */
  report(entity: string, error: Error): void;
  /** Compare every table now; hold and release entities accordingly. */
  check(): Promise<void>;
  /** How long a held message waits before it is delivered again (the compare interval). */
  readonly holdMs: number;
  /** Stop comparing (waits for a comparison under way). */
  stop(): Promise<void>;
};

export type SchemaWatchDeps = {
  sql: Sql;
  registry: Registry;
  log: Logger;
  metrics?: Metrics;
  intervalMs: number;
  /** The start's migration, so the first state needs no second look. */
  initial: MigrationResult;
};

/** Start watching. The first comparison is `initial`; the next ones run every `intervalMs`. */
export function startSchemaWatch(deps: SchemaWatchDeps): SchemaWatch {
  const { registry, log, metrics, intervalMs } = deps;
  /** Problems found by the last comparison, by ingestible entity. */
  let fromDiff = new Map<string, string[]>();
  /** Write errors reported since, by ingestible entity, with when. */
  const fromErrors = new Map<string, { problem: string; at: number }>();
  const held = new Map<string, Mismatch>();
  const rootOf = (entity: string) => registry.entities.get(entity)?.root ?? entity;

  const update = () => {
    const now = new Map<string, string[]>(fromDiff);
    for (const [entity, { problem }] of fromErrors) now.set(entity, [...(now.get(entity) ?? []), problem]);
    for (const [entity, problems] of now) {
      const was = held.get(entity);
      held.set(entity, { entity, since: was?.since ?? new Date().toISOString(), problems });
      if (was) continue;
      metrics?.schemaMismatch.set({ entity }, 1);
      // One line per entity, when it starts waiting (not one per message or per comparison).
      log.error("entity held: its table does not match the entity; its messages wait in the stream", {
        entity,
        problems,
      });
    }
    for (const entity of [...held.keys()]) {
      if (now.has(entity)) continue;
      held.delete(entity);
      metrics?.schemaMismatch.set({ entity }, 0);
      log.info("entity released: its table matches the entity again; its messages flow", { entity });
    }
  };
  const absorb = (result: MigrationResult) => {
    const next = new Map<string, string[]>();
    for (const change of result.problems) {
      const entity = rootOf(change.entity);
      next.set(entity, [...(next.get(entity) ?? []), describeProblem(change)]);
    }
    fromDiff = next;
  };
  for (const e of registry.ingestible) metrics?.schemaMismatch.set({ entity: e.name }, 0);
  absorb(deps.initial);
  update();

  let running: Promise<void> | undefined;
  /** A comparison asked for while one runs: that one may have read the catalog before the change it is for. */
  let queued: Promise<void> | undefined;
  const check = (): Promise<void> => {
    if (running) {
      return queued ??= running.then(() => {
        queued = undefined;
        return check();
      });
    }
    return running = (async () => {
      try {
        absorb(await migrate(deps.sql, registry, log, "safe"));
        // A reported error with no difference the comparison can see (say a trigger's) is tried again after
        // one interval: the next write either works or holds the entity again.
        for (const [entity, { at }] of fromErrors) {
          if (Date.now() - at >= intervalMs) fromErrors.delete(entity);
        }
        update();
      } catch (error) {
        // PostgreSQL away: keep the state; the writes fail (and are retried) on their own.
        log.debug("schema comparison failed", { error });
      } finally {
        running = undefined;
      }
    })();
  };
  const timer = setInterval(() => void check(), intervalMs);

  return {
    mismatches: () => [...held.values()],
    isHeld: (entity) => held.has(entity),
    report(entity, error) {
      const root = rootOf(entity);
      const code = (error as { code?: string }).code;
      fromErrors.set(root, {
        problem: `write failed: ${code ? `[${code}] ` : ""}${error.message}`,
        at: Date.now(),
      });
      update();
      void check();
    },
    check,
    holdMs: intervalMs,
    async stop() {
      clearInterval(timer);
      await running;
      await queued;
    },
  };
}
