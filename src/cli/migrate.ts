/** `nomnom migrate`: create or upgrade the tables, print what changed, exit. */
import { connectDatabase } from "../db/connect.ts";
import { migrate } from "../db/migrate.ts";
import { createCliLogger, defineCommand, loadEntities } from "./command.ts";
import { requireServices } from "./services.ts";

/** The `migrate` command. */
export const migrateCommand = defineCommand({
  name: "migrate",
  usage: "migrate",
  summary: "create or upgrade the tables, print what changed, exit",
  description: "Creates or upgrades the table of every stored entity and nomnom's own tables.",
  settings: ["entities", "database-url", "log-level", "log-format"],
  async run({ config, out }) {
    const log = createCliLogger(config, "migrate");
    const { databaseUrl } = requireServices(config, "nomnom migrate", ["database-url"]);
    const registry = await loadEntities(config.entitiesDir);
    const sql = await connectDatabase(databaseUrl!, 1, log);
    try {
      const changes = await migrate(sql, registry, log);
      out(changes.length === 0 ? "schema is up to date" : changes.join("\n"));
      return 0;
    } finally {
      await sql.end({ timeout: 5 });
    }
  },
});
