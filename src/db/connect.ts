/**
 * Opening the PostgreSQL pool (postgres.js). Notices are dropped (CREATE ... IF NOT EXISTS is chatty), and every
 * connection says it is nomnom in pg_stat_activity. Sessions run in UTC: a date-time sent without an offset is
 * then stored as UTC whatever the server's default time zone, and the worker's in-batch key comparison
 * (src/registry/key.ts) can know what PostgreSQL will compare.
 */
import postgres from "postgres";
import { type Logger, redact } from "../log.ts";

export type Sql = postgres.Sql;

/** Open a pool to `url` and check it answers. Throws a message that says what to do. */
export async function connectDatabase(url: string, poolSize: number, log: Logger): Promise<Sql> {
  const sql = postgres(url, {
    max: poolSize,
    onnotice: () => {},
    connection: { application_name: "nomnom", TimeZone: "UTC" },
    connect_timeout: 10,
  });
  try {
    await sql`SELECT 1`;
  } catch (error) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw new Error(
      `Cannot connect to PostgreSQL at ${redact(url)}: ${
        (error as Error).message
      }. Start PostgreSQL or point ` +
        `--database-url (DATABASE_URL) at a running server.`,
      { cause: error },
    );
  }
  log.debug("connected to postgres", { url: redact(url) });
  return sql;
}
