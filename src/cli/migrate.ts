/**
 * `nomnom migrate`: compare every table with its entity; make the safe changes and name the others (exit 1 while
 * any is left). `--plan` prints the DDL of every change without running it; `--apply` runs them all, the unsafe
 * ones included, in one transaction, or nothing if a row would not survive one.
 */
import { connectDatabase } from "../db/connect.ts";
import { migrate, MigrationRefused, planMigration } from "../db/migrate.ts";
import { describeProblem, type SchemaChange } from "../db/schema_diff.ts";
import { ConfigError } from "../errors.ts";
import { createCliLogger, defineCommand, loadEntities } from "./command.ts";
import { findServices } from "./services.ts";

/** What `nomnom migrate` does: make the safe changes, print every change's DDL, or make them all. */
export type MigrateArgs = { mode: "safe" | "plan" | "apply" };

/** The `migrate` command. */
export const migrateCommand = defineCommand<MigrateArgs>({
  name: "migrate",
  usage: "migrate [--plan | --apply]",
  summary: "compare the tables with the entities: make the safe changes, name the others; --plan, --apply",
  description:
    "Without a flag: makes the changes that keep every row (new columns, wider types, a dropped NOT " +
    "NULL the entity allows, missing keys and indexes) and names each other difference with the SQL that fixes " +
    "it (exit 1). --plan prints the DDL of every change, running none. --apply runs them all (type changes with " +
    "an explicit cast, key changes) in one transaction, or changes nothing and names a row that would not survive.",
  flags: {
    plan: { type: "boolean", help: "print the DDL of every change (safe and unsafe), run nothing" },
    apply: { type: "boolean", help: "run every change, the unsafe ones too, in one transaction" },
  },
  settings: ["entities", "database-url", "postgres-ca-file", "data-dir", "log-level", "log-format"],
  parse(positionals, flags) {
    if (positionals.length > 0) {
      throw new ConfigError(`"nomnom migrate" takes no argument, not "${positionals[0]}".`);
    }
    if (flags.plan && flags.apply) {
      throw new ConfigError(
        `"nomnom migrate" takes --plan or --apply, not both. Run "nomnom migrate --help".`,
      );
    }
    return { mode: flags.plan ? "plan" : flags.apply ? "apply" : "safe" };
  },
  async run({ config, args, out }) {
    const log = createCliLogger(config, "migrate");
    const { databaseUrl } = await findServices(config, "nomnom migrate", ["databaseUrl"], log);
    const registry = await loadEntities(config.entitiesDir);
    const sql = await connectDatabase(databaseUrl!, 1, log, { caFile: config.postgresCaFile });
    try {
      if (args.mode === "plan") {
        const { status, changes } = await planMigration(sql, registry);
        printPlan(status, changes, out);
        return 0;
      }
      try {
        const { applied, problems } = await migrate(
          sql,
          registry,
          log,
          args.mode === "apply" ? "all" : "safe",
        );
        if (applied.length === 0 && problems.length === 0) out("schema is up to date");
        applied.forEach(out);
        if (problems.length === 0) return 0;
        out(`${problems.length} difference(s) nomnom does not change by itself:`);
        for (const p of problems) out(`  ${describeProblem(p)}`);
        out("`nomnom migrate --plan` prints the DDL; `nomnom migrate --apply` runs it.");
        return 1;
      } catch (error) {
        if (!(error instanceof MigrationRefused)) throw error;
        out(error.message);
        return 1;
      }
    } finally {
      await sql.end({ timeout: 5 });
    }
  },
});

function printPlan(status: string[], changes: SchemaChange[], out: (line: string) => void): void {
  if (status.length === 0 && changes.length === 0) {
    out("-- schema is up to date: nothing to change");
    return;
  }
  for (const ddl of status) out(`-- nomnom's status table (safe)\n${ddl};`);
  for (const c of changes) {
    const where = `${c.table}${c.column ? `.${c.column}` : ""} (${c.entity})`;
    out(`-- ${c.safe ? "safe" : "needs --apply"}: ${c.kind} ${where}: has ${c.has}; declares ${c.declares}`);
    for (const ddl of c.sql) out(`${ddl};`);
  }
}
