/**
 * The one place that reads flags and environment variables. `loadConfig()` is pure: it takes argv and an env
 * record and returns a validated, fully-resolved Config (flags > env > defaults), or throws a ConfigError that
 * names the flag. Nothing else in nomnom reads the environment.
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { ConfigError } from "./errors.ts";
import { DLQ_PAGE } from "./lifecycle/dead_letters.ts";

const ROLES = ["api", "worker", "all"] as const;
const COMMANDS = ["run", "validate", "migrate", "topology", "dlq", "healthcheck"] as const;
const DLQ_ACTIONS = ["list", "show", "replay", "drop"] as const;

/** Flags of `nomnom dlq` only (no env twins: they describe one invocation, not a deployment). */
const DLQ_FLAGS = {
  entity: "only this entity",
  error: "only errors containing this text",
  since: "dead-lettered at or after (ISO 8601)",
  until: "dead-lettered before (ISO 8601)",
  limit: `at most this many (list; default ${DLQ_PAGE.default}, at most ${DLQ_PAGE.max})`,
  all: "replay: every dead letter (when no other filter is given)",
} as const;

/** NATS subject tokens, stream names and durable names are all built from the namespace: keep it to a safe set. */
const NAMESPACE = /^[a-z][a-z0-9_-]{0,31}$/;

/** Digits only: "1e3", "0x50", " 8" and "" are errors, not numbers that happen to parse (BATCH_SIZE=ten). */
const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.string().regex(/^\d+$/, "must be a whole number").transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

/** A NATS server: a URL (nats://, tls://, ws://, wss://) or host[:port], as nats.js takes them. */
function isNatsServer(entry: string): boolean {
  if (/^[\w.-]+(:\d{1,5})?$/.test(entry) || /^\[[\da-f:.]+\](:\d{1,5})?$/i.test(entry)) return true;
  if (!/^(nats|tls|ws|wss):\/\//i.test(entry)) return false;
  return URL.canParse(entry) && new URL(entry).hostname !== "";
}

/**
 * Settings that may hold a password: an invalid value is reported without echoing it (a malformed URL cannot be
 * reliably redacted), and only ever logged through log.ts's redact().
 */
const SECRET_SETTINGS = new Set(["nats-url", "database-url"]);

/** One entry per setting: flag name, env twin, schema (with default) and help text. Help and docs derive from it. */
const SETTINGS = {
  role: { env: "NOMNOM_ROLE", schema: z.enum(ROLES).default("all"), help: "api, worker or all" },
  entities: {
    env: "NOMNOM_ENTITIES",
    schema: z.string().min(1).default("entities"),
    help: "entities folder",
  },
  host: { env: "HOST", schema: z.string().min(1).default("0.0.0.0"), help: "HTTP listen address" },
  port: { env: "PORT", schema: int(0, 65535).default(8080), help: "HTTP port of the api role" },
  "nats-url": {
    env: "NATS_URL",
    schema: z.string().min(1).refine(
      (list) => list.split(",").every((entry) => isNatsServer(entry.trim())),
      "must be nats://[user:password@]host[:port] (or tls://, ws://, wss://, host:port), comma-separated",
    ).optional(),
    help: "NATS server(s), comma-separated; unset with --role=all: nomnom starts nats-server itself",
  },
  "database-url": {
    env: "DATABASE_URL",
    schema: z.string().regex(/^postgres(ql)?:\/\//, "must start with postgres:// or postgresql://")
      .refine(
        (url) => URL.canParse(url),
        "must be a URL: postgres://user:password@host:5432/database (percent-encode special characters)",
      )
      .optional(),
    help: "PostgreSQL URL; unset with --role=all: embedded PostgreSQL (PGlite) in --data-dir",
  },
  "data-dir": {
    env: "NOMNOM_DATA_DIR",
    schema: z.string().min(1).default(".nomnom"),
    help: "where the embedded PostgreSQL and NATS keep their data",
  },
  "nats-server": {
    env: "NOMNOM_NATS_SERVER",
    schema: z.string().min(1).optional(),
    help: "nats-server binary for the embedded NATS (default: the one on PATH)",
  },
  namespace: {
    env: "NOMNOM_NAMESPACE",
    schema: z.string().regex(NAMESPACE, "must match " + NAMESPACE.source).default("nomnom"),
    help: "prefix of every stream, subject and consumer",
  },
  "ops-port": {
    env: "NOMNOM_OPS_PORT",
    schema: int(0, 65535).default(9090),
    help: "port of /health, /ready, /metrics of the worker role",
  },
  "shutdown-timeout-ms": {
    env: "NOMNOM_SHUTDOWN_TIMEOUT_MS",
    schema: int(100).default(25_000),
    help: "longest graceful shutdown before exit, counted after the drain",
  },
  "shutdown-drain-ms": {
    env: "NOMNOM_SHUTDOWN_DRAIN_MS",
    schema: int(0, 600_000).default(5_000),
    help: "on SIGTERM the API keeps serving, /ready answering 503, this long before it stops listening",
  },
  "max-message-bytes": {
    env: "NOMNOM_MAX_MESSAGE_BYTES",
    // NATS's default max_payload is 1 MiB for body and headers together: 1 MB leaves room for the headers.
    schema: int(1024, 64 * 1024 * 1024).default(1_000_000),
    help: "largest message body; must fit the NATS server's max_payload with 8 KiB to spare",
  },
  "max-batch-bytes": {
    env: "NOMNOM_MAX_BATCH_BYTES",
    schema: int(1024).default(64 * 1024 * 1024),
    help: "largest NDJSON request body",
  },
  "log-level": {
    env: "LOG_LEVEL",
    schema: z.enum(["debug", "info", "warn", "error"]).default("info"),
    help: "debug, info, warn or error",
  },
  "log-format": {
    env: "LOG_FORMAT",
    schema: z.enum(["json", "pretty"]).optional(),
    help: "json (one object a line) or pretty; default: pretty when stderr is a terminal, else json",
  },
  "batch-size": {
    env: "NOMNOM_BATCH_SIZE",
    schema: int(1, 10_000).default(500),
    help: "messages per transaction",
  },
  "batch-linger-ms": {
    env: "NOMNOM_BATCH_LINGER_MS",
    schema: int(0, 10_000).default(5),
    help: "how long the worker waits to fill a batch",
  },
  "max-ack-pending": {
    env: "NOMNOM_MAX_ACK_PENDING",
    schema: int(1).default(20_000),
    help: "in-flight messages across all workers",
  },
  "ack-wait-ms": {
    env: "NOMNOM_ACK_WAIT_MS",
    schema: int(1_000).default(30_000),
    help: "redelivery timeout",
  },
  "max-deliver": {
    env: "NOMNOM_MAX_DELIVER",
    schema: int(1).default(20),
    help: "attempts before a failing message may be dead-lettered",
  },
  "retry-budget-ms": {
    env: "NOMNOM_RETRY_BUDGET_MS",
    schema: int(0).default(3_600_000),
    help: "how long transient failures are retried before dead-lettering",
  },
  "retry-base-ms": {
    env: "NOMNOM_RETRY_BASE_MS",
    schema: int(1).default(1_000),
    help: "first retry delay (doubles each attempt)",
  },
  "retry-max-ms": { env: "NOMNOM_RETRY_MAX_MS", schema: int(1).default(60_000), help: "longest retry delay" },
  "stream-max-bytes": {
    env: "NOMNOM_STREAM_MAX_BYTES",
    schema: int(1024 * 1024).default(1024 * 1024 * 1024),
    help: "storage reserved for the ingest stream",
  },
  "dlq-max-bytes": {
    env: "NOMNOM_DLQ_MAX_BYTES",
    schema: int(1024 * 1024).default(256 * 1024 * 1024),
    help: "storage reserved for the dead-letter stream",
  },
  "stream-replicas": {
    env: "NOMNOM_STREAM_REPLICAS",
    schema: int(1, 5).default(1),
    help: "JetStream replicas",
  },
  "duplicate-window-ms": {
    env: "NOMNOM_DUPLICATE_WINDOW_MS",
    schema: int(1_000).default(120_000),
    help: "JetStream dedup window for message ids",
  },
  "publish-timeout-ms": {
    env: "NOMNOM_PUBLISH_TIMEOUT_MS",
    schema: int(100).default(5_000),
    help: "longest wait for a JetStream ack",
  },
  "db-pool-size": {
    env: "NOMNOM_DB_POOL_SIZE",
    schema: int(1, 100).default(4),
    help: "PostgreSQL connections",
  },
} as const;

type SettingName = keyof typeof SETTINGS;
type Settings = { [K in SettingName]: z.output<(typeof SETTINGS)[K]["schema"]> };

/** The resolved configuration every module receives (or a slice of). */
export type Config = {
  command: (typeof COMMANDS)[number];
  /** `nomnom healthcheck [ready]`: which endpoint to ask. */
  healthcheck?: "health" | "ready";
  /** `nomnom dlq <action> [id]` and its filter. */
  dlq?: {
    action: (typeof DLQ_ACTIONS)[number];
    id?: string;
    filter: { entity?: string; error?: string; since?: string; until?: string };
    limit: number;
    all: boolean;
  };
  role: Settings["role"];
  entitiesDir: string;
  http: { host: string; port: number };
  opsPort: number;
  shutdownTimeoutMs: number;
  /** How long a stopping API keeps its listener open with /ready at 503, so that load balancers notice. */
  shutdownDrainMs: number;
  limits: { messageBytes: number; batchBytes: number };
  /** Unset: the embedded NATS (role all only). */
  natsUrl?: string;
  /** Unset: the embedded PostgreSQL (role all only). */
  databaseUrl?: string;
  dataDir: string;
  natsServer?: string;
  namespace: string;
  logLevel: Settings["log-level"];
  /** Unset: pretty on a terminal, JSON lines otherwise (decided by main.ts, which knows the terminal). */
  logFormat?: Settings["log-format"];
  worker: {
    batchSize: number;
    batchLingerMs: number;
    maxAckPending: number;
    ackWaitMs: number;
    maxDeliver: number;
    retryBudgetMs: number;
    retryBaseMs: number;
    retryMaxMs: number;
  };
  stream: { maxBytes: number; dlqMaxBytes: number; replicas: number; duplicateWindowMs: number };
  publishTimeoutMs: number;
  dbPoolSize: number;
};

/** Result of parsing argv: either a config to run with, or help text to print. */
export type LoadResult = { config: Config; help?: undefined } | { help: string; config?: undefined };

/** Parse argv (without the program name) and env into a Config. Throws ConfigError naming the bad flag. */
export function loadConfig(argv: string[], env: Record<string, string | undefined>): LoadResult {
  const options = Object.fromEntries(
    Object.keys(SETTINGS).map((name) => [name, { type: "string" as const }]),
  ) as Record<SettingName, { type: "string" }>;
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        ...options,
        help: { type: "boolean", short: "h" },
        entity: { type: "string" },
        error: { type: "string" },
        since: { type: "string" },
        until: { type: "string" },
        limit: { type: "string" },
        all: { type: "boolean" },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}. Run "nomnom --help" for the list of flags.`);
  }
  const [command = "run", ...extra] = parsed.positionals;
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new ConfigError(`Unknown command "${command}": expected one of ${COMMANDS.join(", ")}.`);
  }
  if (parsed.values.help) return { help: helpText(command as Config["command"]) };
  let dlq: Config["dlq"];
  if (command === "dlq") {
    const [action, id, ...more] = extra;
    if (!(DLQ_ACTIONS as readonly string[]).includes(action)) {
      throw new ConfigError(`"nomnom dlq" needs an action: ${DLQ_ACTIONS.join(", ")}.`);
    }
    if (more.length > 0) throw new ConfigError(`Unexpected argument "${more[0]}".`);
    if ((action === "show" || action === "drop") && !id) {
      throw new ConfigError(`"nomnom dlq ${action}" needs a message id.`);
    }
    const limit = Number(parsed.values.limit ?? DLQ_PAGE.default);
    if (!Number.isInteger(limit) || limit < 1 || limit > DLQ_PAGE.max) {
      throw new ConfigError(
        `Invalid --limit="${parsed.values.limit}": must be a whole number from 1 to ${DLQ_PAGE.max}.`,
      );
    }
    const v = parsed.values;
    dlq = {
      action: action as (typeof DLQ_ACTIONS)[number],
      id,
      filter: { entity: v.entity, error: v.error, since: v.since, until: v.until },
      limit,
      all: v.all === true,
    };
  } else if (command === "healthcheck") {
    if (extra.length > 1 || (extra[0] && extra[0] !== "ready" && extra[0] !== "health")) {
      throw new ConfigError(`"nomnom healthcheck" takes "health" (default) or "ready".`);
    }
  } else {
    if (extra.length > 0) throw new ConfigError(`Unexpected argument "${extra[0]}".`);
    const stray = Object.keys(DLQ_FLAGS).find((f) =>
      parsed.values[f as keyof typeof DLQ_FLAGS] !== undefined
    );
    if (stray) throw new ConfigError(`--${stray} only applies to "nomnom dlq".`);
  }

  const values = {} as Record<string, unknown>;
  for (const [name, setting] of Object.entries(SETTINGS) as [SettingName, (typeof SETTINGS)[SettingName]][]) {
    const fromFlag = parsed.values[name] as string | undefined;
    const fromEnv = env[setting.env];
    const raw = fromFlag ?? (fromEnv === "" ? undefined : fromEnv);
    const result = (setting.schema as z.ZodType).safeParse(raw);
    if (!result.success) {
      const source = fromFlag !== undefined ? `--${name}` : `${setting.env} (env)`;
      const shown = SECRET_SETTINGS.has(name) ? "" : `=${JSON.stringify(raw)}`;
      const hidden = SECRET_SETTINGS.has(name) ? " (value not shown: it may hold a password)" : "";
      throw new ConfigError(`Invalid ${source}${shown}: ${result.error.issues[0].message}${hidden}.`);
    }
    values[name] = result.data;
  }
  const s = values as Settings;
  const needs = (what: string, flag: string, env: string) => {
    throw new ConfigError(
      `${what} needs ${flag} (${env}): the embedded ${
        flag === "--nats-url" ? "NATS" : "PostgreSQL"
      } only serves ` +
        `a single process running --role=all.`,
    );
  };
  const runsApart = command === "run" && s.role !== "all";
  if ((runsApart || command === "dlq") && !s["nats-url"]) {
    needs(command === "run" ? `--role=${s.role}` : `nomnom ${command}`, "--nats-url", "NATS_URL");
  }
  if ((runsApart || command === "dlq" || command === "migrate") && !s["database-url"]) {
    needs(command === "run" ? `--role=${s.role}` : `nomnom ${command}`, "--database-url", "DATABASE_URL");
  }
  return {
    config: {
      command: command as Config["command"],
      dlq,
      healthcheck: command === "healthcheck" ? (extra[0] === "ready" ? "ready" : "health") : undefined,
      role: s.role,
      entitiesDir: s.entities,
      http: { host: s.host, port: s.port },
      opsPort: s["ops-port"],
      shutdownTimeoutMs: s["shutdown-timeout-ms"],
      shutdownDrainMs: s["shutdown-drain-ms"],
      limits: { messageBytes: s["max-message-bytes"], batchBytes: s["max-batch-bytes"] },
      natsUrl: s["nats-url"],
      databaseUrl: s["database-url"],
      dataDir: s["data-dir"],
      natsServer: s["nats-server"],
      namespace: s.namespace,
      logLevel: s["log-level"],
      logFormat: s["log-format"],
      worker: {
        batchSize: s["batch-size"],
        batchLingerMs: s["batch-linger-ms"],
        maxAckPending: s["max-ack-pending"],
        ackWaitMs: s["ack-wait-ms"],
        maxDeliver: s["max-deliver"],
        retryBudgetMs: s["retry-budget-ms"],
        retryBaseMs: s["retry-base-ms"],
        retryMaxMs: s["retry-max-ms"],
      },
      stream: {
        maxBytes: s["stream-max-bytes"],
        dlqMaxBytes: s["dlq-max-bytes"],
        replicas: s["stream-replicas"],
        duplicateWindowMs: s["duplicate-window-ms"],
      },
      publishTimeoutMs: s["publish-timeout-ms"],
      dbPoolSize: s["db-pool-size"],
    },
  };
}

const COMMAND_HELP: Record<Config["command"], string> = {
  run: "Run the pipeline in the role given by --role (api, worker or all).",
  validate:
    "Load the entities and print entities, tables and subjects, or every error with its file and key.",
  migrate: "Create or upgrade the tables of every stored entity and nomnom's own tables, then exit.",
  topology: "Print the streams, subjects and consumers the roles use (computed, nothing is created).",
  dlq:
    "Inspect and act on the dead-letter queue: dlq list | show <id> | replay <id> | replay --entity E ... | " +
    "drop <id>.",
  healthcheck:
    "Ask the local process for /health (or /ready with `healthcheck ready`): exit 0 on a 200. For " +
    "container HEALTHCHECKs; --role=api asks --port, --role=worker asks --ops-port, no role asks --port, then " +
    "--ops-port.",
};

/** Every setting with its flag, env twin and default: the source of `--help` and of README's table. */
export function describeSettings(): { flag: string; env: string; default: string; help: string }[] {
  return Object.entries(SETTINGS).map(([name, s]) => {
    const fallback = (s.schema as z.ZodType).parse(undefined);
    return {
      flag: `--${name}`,
      env: s.env,
      default: fallback === undefined ? "—" : String(fallback),
      help: s.help,
    };
  });
}

function helpText(command: Config["command"]): string {
  const rows = describeSettings().map((s) =>
    `  ${(s.flag + " <value>").padEnd(30)} ${s.help} (env ${s.env}, default ${s.default})`
  );
  const dlqRows = command === "dlq"
    ? [
      "",
      "Filters (dlq only):",
      ...Object.entries(DLQ_FLAGS).map(([f, h]) => `  ${("--" + f).padEnd(30)} ${h}`),
    ]
    : [];
  return [
    `Usage: nomnom ${
      command === "run" ? "[run]" : command === "dlq" ? "dlq <action> [id]" : command
    } [flags]`,
    "",
    COMMAND_HELP[command],
    "",
    "Commands: run (default), validate, migrate, topology, dlq, healthcheck. Each accepts --help.",
    ...dlqRows,
    "",
    "Flags (flags win over env, env over defaults):",
    ...rows,
    "  -h, --help                     show this help",
  ].join("\n");
}
