/**
 * Waiting for a condition instead of sleeping: `waitFor` polls any check, `waitForStatus` a message's status (via
 * the API or the status table) and says, when it gives up, which message and what it last saw.
 */
import type postgres from "postgres";
import { type MessageStatus, readStatuses, type StoredStatus } from "../src/db/status.ts";

/** How often a condition is polled: short against the suite's time, long against a busy 2-core machine. */
const POLL_MS = 25;

/** Poll `check` until it returns a truthy value (or throw after `timeoutMs`, saying what was awaited). */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T> | T,
  timeoutMs = 15_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** Where statuses are read: a database with nomnom's status table, or an API's base URL (`http://…`). */
export type StatusSource = postgres.Sql | string;

type StatusOptions = { timeoutMs?: number };

/**
 * Resolves once message `id` (or every one of `ids`) has status `wanted` (or one of them), with the stored
 * status(es). On timeout the error names a message still waited for, the last status seen for it, and how many
 * are still pending.
 */
export function waitForStatus(
  source: StatusSource,
  id: string,
  wanted: MessageStatus | readonly MessageStatus[],
  options?: StatusOptions,
): Promise<StoredStatus>;
export function waitForStatus(
  source: StatusSource,
  ids: readonly string[],
  wanted: MessageStatus | readonly MessageStatus[],
  options?: StatusOptions,
): Promise<Map<string, StoredStatus>>;
export async function waitForStatus(
  source: StatusSource,
  idOrIds: string | readonly string[],
  wanted: MessageStatus | readonly MessageStatus[],
  { timeoutMs = 30_000 }: StatusOptions = {},
): Promise<StoredStatus | Map<string, StoredStatus>> {
  const ids = typeof idOrIds === "string" ? [idOrIds] : [...idOrIds];
  const accepted = new Set<string>(typeof wanted === "string" ? [wanted] : wanted);
  const deadline = Date.now() + timeoutMs;
  let seen = new Map<string, StoredStatus>();
  let readError: unknown;
  for (;;) {
    try {
      seen = await read(source, ids);
      readError = undefined;
    } catch (error) {
      readError = error; // the API or database may be away for a moment in fault tests
    }
    const pending = ids.filter((id) => !accepted.has(seen.get(id)?.status ?? ""));
    if (pending.length === 0) return typeof idOrIds === "string" ? seen.get(idOrIds)! : seen;
    if (Date.now() >= deadline) {
      const last = seen.get(pending[0]);
      const lastSeen = last
        ? `last status seen: ${last.status} (attempts ${last.attempts}${
          last.error ? `, error: ${last.error}` : ""
        })`
        : "no status seen for it";
      const others = pending.length > 1 ? ` (and ${pending.length - 1} more of ${ids.length} not yet)` : "";
      const failing = readError ? `; the last read failed: ${readError}` : "";
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for message ${pending[0]} to be ${
          [...accepted].join(" or ")
        }: ` +
          `${lastSeen}${others}${failing}`,
      );
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** The API answers at most this many ids per POST /ingest/status. */
const API_BATCH = 1000;

async function read(source: StatusSource, ids: string[]): Promise<Map<string, StoredStatus>> {
  if (typeof source !== "string") return await readStatuses(source, ids);
  const found = new Map<string, StoredStatus>();
  for (let i = 0; i < ids.length; i += API_BATCH) {
    const response = await fetch(`${source}/ingest/status`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message_ids: ids.slice(i, i + API_BATCH) }),
    });
    if (response.status !== 200) {
      throw new Error(`POST /ingest/status: ${response.status} ${await response.text()}`);
    }
    for (const r of (await response.json()).results as StoredStatus[]) {
      if ((r.status as string) !== "unknown") found.set(r.message_id, r);
    }
  }
  return found;
}
