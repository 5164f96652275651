/**
 * Shapes of the feed's parts (src/dashboard/read.ts writes them) and of the API answers the page reads. The
 * row and presence types are the server's own and dead letters the API contract's, imported as types (erased by
 * the bundler).
 */
import type { RowsPage } from "../rows.ts";
import type { WorkerPresence } from "../../stream/presence.ts";
import type { DeadLetter as DlqEntry } from "../../api/contract.ts";
import type { StoredStatus } from "../../db/status.ts";

export type { DlqEntry, RowsPage, StoredStatus, WorkerPresence };

/** The `overview` part: counts per entity (PostgreSQL), the pipeline (NATS), health, this process. */
export type Overview = {
  namespace: string;
  entities: {
    name: string;
    /** Messages of the entity with a status row, from every replica (all statuses). */
    accepted: number | null;
    completed: number | null;
    retrying: number | null;
    dlq: number | null;
    dropped: number | null;
    in_progress: number | null;
    accepted_here: number;
    tables: { entity: string; table: string; rows: number | null }[];
  }[];
  pipeline: {
    pending: number;
    ack_pending: number;
    redelivered: number;
    waiting_pulls: number;
    ingest_messages: number;
    ingest_bytes: number;
    dlq_depth: number;
    workers: WorkerPresence[];
  } | null;
  health: { nats: { ok: boolean; error?: string }; postgres: { ok: boolean; error?: string } };
  process: { role: string; version: string; started_at: string; dashboard_clients: number };
};

/** The `rates` part: counts per bucket, oldest first, the last bucket being the current one. */
export type Rates = {
  bucket_seconds: number;
  end_bucket: number;
  series: Record<string, { completed: number[]; retrying: number[]; dlq: number[] }>;
  accepted_here: number[];
};

/** One row of the `messages` part. */
export type RecentMessage = {
  message_id: string;
  entity: string;
  status: string;
  attempts: number;
  error: string | null;
  received_at: string | null;
  processed_at: string | null;
};

/** GET /dashboard/api/entities. */
export type Meta = {
  namespace: string;
  version: string;
  entities: {
    name: string;
    kind: "root" | "derived" | "reference";
    doc: string | null;
    root: string;
    ingestible: boolean;
    table: string | null;
    columns: string[];
    key: string[];
    derived: string[];
  }[];
};
