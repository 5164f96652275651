/**
 * Every deployment setting, declared once: its flag, its environment variable, its validation and default (a zod
 * schema), its help text and whether it is a secret. Where it sits in this tree is where it sits in Config, so
 * `--help`, README's table, `loadConfig()` and the Config type all come from this one literal. To add a setting,
 * add one `setting(...)` here (and run `deno task readme`).
 */
import { isIP } from "node:net";
import { z } from "zod";

/** The roles a process can run (src/app.ts's targets). */
export const ROLES = ["api", "worker", "all"] as const;

/** One setting. `secret`: the value may hold a password; it is never echoed and may come from `<ENV>_FILE`. */
export type Setting<S extends z.ZodType = z.ZodType, F extends string = string> = {
  flag: F;
  env: string;
  schema: S;
  help: string;
  secret?: true;
};

function setting<F extends string, S extends z.ZodType>(
  flag: F,
  env: string,
  schema: S,
  help: string,
  options: { secret?: true } = {},
): Setting<S, F> {
  return { flag, env, schema, help, ...options };
}

/** Digits only: "1e3", "0x50", " 8" and "" are errors, not numbers that happen to parse (BATCH_SIZE=ten). */
const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.string().regex(/^\d+$/, "must be a whole number").transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

/** NATS subject tokens, stream names and durable names are all built from the namespace: keep it to a safe set. */
const NAMESPACE = /^[a-z][a-z0-9_-]{0,31}$/;

/** A NATS server: a URL (nats://, tls://, ws://, wss://) or host[:port], as nats.js takes them. */
function isNatsServer(entry: string): boolean {
  if (/^[\w.-]+(:\d{1,5})?$/.test(entry) || /^\[[\da-f:.]+\](:\d{1,5})?$/i.test(entry)) return true;
  if (!/^(nats|tls|ws|wss):\/\//i.test(entry)) return false;
  return URL.canParse(entry) && new URL(entry).hostname !== "";
}

/** A comma-separated list whose entries all pass `valid`, as an array of trimmed entries. */
const list = (valid: (entry: string) => boolean, message: string) =>
  z.string().refine((text) => text.split(",").every((entry) => valid(entry.trim())), message)
    .transform((text) => text.split(",").map((entry) => entry.trim()));
/** The same with a default (given as the text it would be set to): zod's .default() skips the transform. */
const listOr = (fallback: string, valid: (entry: string) => boolean, message: string) =>
  z.string().default(fallback).pipe(list(valid, message));

/** A browser origin as it sends it (scheme://host[:port], no path), or `*`. */
function isOrigin(entry: string): boolean {
  if (entry === "*") return true;
  return /^https?:\/\/[^/?#\s]+$/i.test(entry) && URL.canParse(entry) && new URL(entry).origin === entry;
}

/** An IPv4/IPv6 address, or one with a /prefix length. */
function isAddressOrSubnet(entry: string): boolean {
  const [address, prefix, ...rest] = entry.split("/");
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

/** The settings tree: its shape is Config's shape. Order is the order of `--help` and of README's table. */
export const SETTINGS = {
  role: setting("role", "NOMNOM_ROLE", z.enum(ROLES).default("all"), "api, worker or all"),
  entitiesDir: setting(
    "entities",
    "NOMNOM_ENTITIES",
    z.string().min(1).default("entities"),
    "entities folder",
  ),
  http: {
    host: setting("host", "HOST", z.string().min(1).default("0.0.0.0"), "HTTP listen address"),
    port: setting("port", "PORT", int(0, 65535).default(8080), "HTTP port of the api role"),
  },
  /** HTTPS on the API's port and the worker's ops port (src/api/server_tls.ts); both files or neither. */
  tls: {
    certFile: setting(
      "tls-cert",
      "NOMNOM_TLS_CERT",
      z.string().min(1).optional(),
      "PEM certificate (chain) file: the API and the worker's ops port serve HTTPS; needs --tls-key",
    ),
    keyFile: setting(
      "tls-key",
      "NOMNOM_TLS_KEY",
      z.string().min(1).optional(),
      "PEM private key file of --tls-cert (e.g. a mounted Secret); never logged",
    ),
  },
  natsUrl: setting(
    "nats-url",
    "NATS_URL",
    z.string().min(1).refine(
      (list) => list.split(",").every((entry) => isNatsServer(entry.trim())),
      "must be nats://[user:password@]host[:port] (or tls://, ws://, wss://, host:port), comma-separated",
    ).optional(),
    "NATS server(s), comma-separated; unset with --role=all: nomnom starts nats-server itself",
    { secret: true },
  ),
  /** How nomnom proves itself to NATS and checks the server: src/stream/nats_options.ts. */
  nats: {
    caFile: setting(
      "nats-ca-file",
      "NOMNOM_NATS_CA_FILE",
      z.string().min(1).optional(),
      "PEM file of the CA that signed the NATS servers' certificates; set: TLS is required",
    ),
    certFile: setting(
      "nats-cert-file",
      "NOMNOM_NATS_CERT_FILE",
      z.string().min(1).optional(),
      "PEM client certificate for NATS (mutual TLS, with --nats-key-file)",
    ),
    keyFile: setting(
      "nats-key-file",
      "NOMNOM_NATS_KEY_FILE",
      z.string().min(1).optional(),
      "PEM private key of --nats-cert-file",
    ),
    user: setting(
      "nats-user",
      "NOMNOM_NATS_USER",
      z.string().min(1).optional(),
      "NATS user (with --nats-password); or put user:password in --nats-url",
    ),
    password: setting(
      "nats-password",
      "NOMNOM_NATS_PASSWORD",
      z.string().min(1).optional(),
      "password of --nats-user",
      { secret: true },
    ),
    token: setting(
      "nats-token",
      "NOMNOM_NATS_TOKEN",
      z.string().min(1).optional(),
      "NATS authorization token; or nats://<token>@host in --nats-url",
      { secret: true },
    ),
    nkeyFile: setting(
      "nats-nkey-file",
      "NOMNOM_NATS_NKEY_FILE",
      z.string().min(1).optional(),
      "file holding the NATS user's nkey seed (SU…)",
    ),
    credsFile: setting(
      "nats-creds-file",
      "NOMNOM_NATS_CREDS_FILE",
      z.string().min(1).optional(),
      "NATS .creds file (user JWT and nkey seed, as nsc writes it)",
    ),
  },
  databaseUrl: setting(
    "database-url",
    "DATABASE_URL",
    z.string().regex(/^postgres(ql)?:\/\//, "must start with postgres:// or postgresql://")
      .refine(
        (url) => URL.canParse(url),
        "must be a URL: postgres://user:password@host:5432/database (percent-encode special characters)",
      )
      .optional(),
    "PostgreSQL URL; unset with --role=all: embedded PostgreSQL (PGlite) in --data-dir",
    { secret: true },
  ),
  /** TLS to PostgreSQL: the mode is the URL's sslmode, the CA this file (src/db/tls.ts). */
  postgresCaFile: setting(
    "postgres-ca-file",
    "NOMNOM_POSTGRES_CA_FILE",
    z.string().min(1).optional(),
    "PEM file of the CA that signs PostgreSQL's certificate; without sslmode in the URL it means verify-full",
  ),
  dataDir: setting(
    "data-dir",
    "NOMNOM_DATA_DIR",
    z.string().min(1).default(".nomnom"),
    "where the embedded PostgreSQL and NATS keep their data",
  ),
  natsServer: setting(
    "nats-server",
    "NOMNOM_NATS_SERVER",
    z.string().min(1).optional(),
    "nats-server binary for the embedded NATS (default: the one on PATH)",
  ),
  namespace: setting(
    "namespace",
    "NOMNOM_NAMESPACE",
    z.string().regex(NAMESPACE, "must match " + NAMESPACE.source).default("nomnom"),
    "prefix of every stream, subject and consumer",
  ),
  opsPort: setting(
    "ops-port",
    "NOMNOM_OPS_PORT",
    int(0, 65535).default(9090),
    "port of /health, /ready, /metrics of the worker role",
  ),
  shutdownTimeoutMs: setting(
    "shutdown-timeout-ms",
    "NOMNOM_SHUTDOWN_TIMEOUT_MS",
    int(100).default(25_000),
    "longest graceful shutdown before exit, counted after the drain",
  ),
  /** How long a stopping API keeps its listener open with /ready at 503, so that load balancers notice. */
  shutdownDrainMs: setting(
    "shutdown-drain-ms",
    "NOMNOM_SHUTDOWN_DRAIN_MS",
    int(0, 600_000).default(5_000),
    "on SIGTERM the API keeps serving, /ready answering 503, this long before it stops listening",
  ),
  access: {
    apiKeysFile: setting(
      "api-keys-file",
      "NOMNOM_API_KEYS_FILE",
      z.string().min(1).optional(),
      "YAML/JSON list of API keys {name, key or key_sha256, scopes}, re-read when it changes; unset: the API is open",
    ),
    metricsPublic: setting(
      "metrics-public",
      "NOMNOM_METRICS_PUBLIC",
      z.enum(["true", "false"]).default("false").transform((v) => v === "true"),
      "with API keys, serve /metrics without a key (true) or only to keys with the read scope (false)",
    ),
  },
  cors: {
    origins: setting(
      "cors-origins",
      "NOMNOM_CORS_ORIGINS",
      list(isOrigin, "must be * or origins like https://app.example.com[:port], comma-separated").optional(),
      "origins whose pages may call the API (CORS), comma-separated, or *; unset: no CORS headers at all",
    ),
    methods: setting(
      "cors-methods",
      "NOMNOM_CORS_METHODS",
      listOr(
        "GET,POST,DELETE",
        (m) => /^[A-Z]+$/.test(m),
        "must be HTTP methods in capitals (GET,POST,DELETE), comma-separated",
      ),
      "methods a preflight allows (with --cors-origins)",
    ),
    headers: setting(
      "cors-headers",
      "NOMNOM_CORS_HEADERS",
      listOr(
        "Authorization,Content-Type,X-API-Key,Idempotency-Key,X-Request-Id",
        (h) => /^[A-Za-z0-9-]+$/.test(h),
        "must be header names, comma-separated",
      ),
      "request headers a preflight allows (with --cors-origins)",
    ),
  },
  rateLimit: {
    rate: setting(
      "rate-limit",
      "NOMNOM_RATE_LIMIT",
      int(1).optional(),
      "messages per second each API key (or client address, without keys) may send, per replica; unset: no limit",
    ),
    burst: setting(
      "rate-limit-burst",
      "NOMNOM_RATE_LIMIT_BURST",
      int(1).optional(),
      "messages a client may send at once (token bucket size; the largest batch); default: --rate-limit",
    ),
    trustedProxies: setting(
      "trusted-proxies",
      "NOMNOM_TRUSTED_PROXIES",
      list(isAddressOrSubnet, "must be IP addresses or subnets (10.0.0.0/8, fd00::/8), comma-separated")
        .optional(),
      "proxies whose X-Forwarded-For names the client (IPs or CIDRs); unset: the socket's address is the client",
    ),
  },
  limits: {
    // NATS's default max_payload is 1 MiB for body and headers together: 1 MB leaves room for the headers.
    messageBytes: setting(
      "max-message-bytes",
      "NOMNOM_MAX_MESSAGE_BYTES",
      int(1024, 64 * 1024 * 1024).default(1_000_000),
      "largest message body; must fit the NATS server's max_payload with 8 KiB to spare",
    ),
    batchBytes: setting(
      "max-batch-bytes",
      "NOMNOM_MAX_BATCH_BYTES",
      int(1024).default(64 * 1024 * 1024),
      "largest NDJSON request body",
    ),
  },
  logLevel: setting(
    "log-level",
    "LOG_LEVEL",
    z.enum(["debug", "info", "warn", "error"]).default("info"),
    "debug, info, warn or error",
  ),
  /** Unset: pretty on a terminal, JSON lines otherwise (decided at the edge, which knows the terminal). */
  logFormat: setting(
    "log-format",
    "LOG_FORMAT",
    z.enum(["json", "pretty"]).optional(),
    "json (one object a line) or pretty; default: pretty when stderr is a terminal, else json",
  ),
  worker: {
    batchSize: setting(
      "batch-size",
      "NOMNOM_BATCH_SIZE",
      int(1, 10_000).default(500),
      "messages per transaction",
    ),
    batchLingerMs: setting(
      "batch-linger-ms",
      "NOMNOM_BATCH_LINGER_MS",
      int(0, 10_000).default(5),
      "how long the worker waits to fill a batch",
    ),
    maxAckPending: setting(
      "max-ack-pending",
      "NOMNOM_MAX_ACK_PENDING",
      int(1).default(20_000),
      "in-flight messages across all workers",
    ),
    ackWaitMs: setting("ack-wait-ms", "NOMNOM_ACK_WAIT_MS", int(1_000).default(30_000), "redelivery timeout"),
    maxDeliver: setting(
      "max-deliver",
      "NOMNOM_MAX_DELIVER",
      int(1).default(20),
      "attempts before a failing message may be dead-lettered",
    ),
    retryBudgetMs: setting(
      "retry-budget-ms",
      "NOMNOM_RETRY_BUDGET_MS",
      int(0).default(3_600_000),
      "how long transient failures are retried before dead-lettering",
    ),
    retryBaseMs: setting(
      "retry-base-ms",
      "NOMNOM_RETRY_BASE_MS",
      int(1).default(1_000),
      "first retry delay (doubles each attempt)",
    ),
    retryMaxMs: setting("retry-max-ms", "NOMNOM_RETRY_MAX_MS", int(1).default(60_000), "longest retry delay"),
  },
  stream: {
    maxBytes: setting(
      "stream-max-bytes",
      "NOMNOM_STREAM_MAX_BYTES",
      int(1024 * 1024).default(1024 * 1024 * 1024),
      "storage reserved for the ingest stream",
    ),
    dlqMaxBytes: setting(
      "dlq-max-bytes",
      "NOMNOM_DLQ_MAX_BYTES",
      int(1024 * 1024).default(256 * 1024 * 1024),
      "storage reserved for the dead-letter stream",
    ),
    replicas: setting(
      "stream-replicas",
      "NOMNOM_STREAM_REPLICAS",
      int(1, 5).default(1),
      "copies of each stream and of the consumer, one per NATS server: 3 on a 3-node cluster",
    ),
    duplicateWindowMs: setting(
      "duplicate-window-ms",
      "NOMNOM_DUPLICATE_WINDOW_MS",
      int(1_000).default(120_000),
      "JetStream dedup window for message ids",
    ),
  },
  publishTimeoutMs: setting(
    "publish-timeout-ms",
    "NOMNOM_PUBLISH_TIMEOUT_MS",
    int(100).default(5_000),
    "longest wait for a JetStream ack",
  ),
  dbPoolSize: setting(
    "db-pool-size",
    "NOMNOM_DB_POOL_SIZE",
    int(1, 100).default(4),
    "PostgreSQL connections",
  ),
  /** See src/db/status_retention.ts: one partition of the status table a day, dropped whole when expired. */
  statusRetentionDays: setting(
    "status-retention-days",
    "NOMNOM_STATUS_RETENTION_DAYS",
    int(1, 3650).default(3),
    "days a message's status row is kept after acceptance (as long, a repeated Idempotency-Key is recognised); " +
      "rows of messages in the DLQ or still retrying stay until they finish",
  ),
  /** See src/db/schema_watch.ts: tables compared with the entities while running, held messages' wait. */
  schemaCheckMs: setting(
    "schema-check-ms",
    "NOMNOM_SCHEMA_CHECK_MS",
    int(100, 600_000).default(5_000),
    "how often running roles compare tables with entities; held messages wait as long",
  ),
} as const;

/** A node of the tree: a setting, or a group of them. */
type Node = Setting | { readonly [key: string]: Node };

/** The resolved value of a node: a setting's parsed value, or an object of resolved children. */
export type Resolved<T> = T extends Setting<infer S> ? z.output<S>
  : { -readonly [K in keyof T]: Resolved<T[K]> };

/** The flag names of a node, as a union of string literals. */
type FlagsOf<T> = T extends Setting<z.ZodType, infer F> ? F : { [K in keyof T]: FlagsOf<T[K]> }[keyof T];

/** A deployment setting's flag name (without the dashes). */
export type SettingFlag = FlagsOf<typeof SETTINGS>;

/** Every setting with its place in Config, in declaration order. */
export function listSettings(): { path: string[]; setting: Setting }[] {
  const found: { path: string[]; setting: Setting }[] = [];
  const walk = (node: Node, path: string[]) => {
    if ("schema" in node && "flag" in node) return void found.push({ path, setting: node as Setting });
    for (const [key, child] of Object.entries(node)) walk(child as Node, [...path, key]);
  };
  walk(SETTINGS, []);
  return found;
}
