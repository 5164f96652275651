/**
 * Opening the PostgreSQL pool (postgres.js). Notices are dropped (CREATE ... IF NOT EXISTS is chatty), and every
 * connection says it is nomnom in pg_stat_activity. Sessions run in UTC: a date-time sent without an offset is
 * then stored as UTC whatever the server's default time zone, and the worker's in-batch key comparison
 * (src/registry/key.ts) can know what PostgreSQL will compare. TLS (sslmode, --postgres-ca-file): src/db/tls.ts.
 */
import postgres from "postgres";
import { type Logger, redact } from "../log.ts";
import { explainTlsFailure, postgresSslOption, resolvePostgresTls } from "./tls.ts";

export type Sql = postgres.Sql;

/** How to reach the server besides its URL: the CA file that signs its certificate (--postgres-ca-file). */
export type DatabaseOptions = { caFile?: string };

/**
 * Open a pool to `url` and check it answers. Throws a message that says what to do: a ConfigError for a URL and
 * CA file that contradict each other, else an Error naming the certificate problem or the setting to fix.
 */
export async function connectDatabase(
  url: string,
  poolSize: number,
  log: Logger,
  options: DatabaseOptions = {},
): Promise<Sql> {
  const tls = resolvePostgresTls(url, options.caFile);
  const sql = postgres(url, {
    max: poolSize,
    onnotice: () => {},
    connection: { application_name: "nomnom", TimeZone: "UTC" },
    connect_timeout: 10,
    ssl: postgresSslOption(tls),
  });
  try {
    await sql`SELECT 1`;
  } catch (error) {
    await sql.end({ timeout: 1 }).catch(() => {});
    const reason = await explainTlsFailure(error, tls);
    throw new Error(
      `Cannot connect to PostgreSQL at ${redact(url)}: ` +
        (reason ??
          `${
            (error as Error).message
          }. Start PostgreSQL or point --database-url (DATABASE_URL) at a running server.`),
      { cause: error },
    );
  }
  log.debug("connected to postgres", { url: redact(url), sslmode: tls.mode });
  return sql;
}
