/// <reference lib="dom" />
/**
 * Requests of the page, and the live feed. Every request carries `Authorization: Bearer <key>` when the
 * operator typed a key (kept in sessionStorage: gone with the tab, never a cookie, so no other site can make
 * the browser send it). The feed is read with fetch() streaming rather than EventSource, because EventSource
 * cannot send that header; the page parses the event stream itself and resumes with Last-Event-ID. A 401 from
 * any request tells the page to ask for a key (`onKeyNeeded`); a 403 is shown as the scope the key lacks.
 */

const KEY = "nomnom.apiKey";

/** The API key the operator entered, if any. */
export function apiKey(): string {
  return sessionStorage.getItem(KEY) ?? "";
}

/** Keep (or forget, when empty) the API key for this tab. */
export function setApiKey(key: string): void {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const key = apiKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

/** Why the page needs a key: none was given, or the API refused the one given. */
export type KeyProblem = { status: 401; message: string };

let keyNeeded: (problem: KeyProblem) => void = () => {};

/** Call `listener` whenever the API answers 401 (no key, or not a valid one). */
export function onKeyNeeded(listener: (problem: KeyProblem) => void): void {
  keyNeeded = listener;
}

/** The API's own error text of a 401 (`an API key is required…`, `the API key is not valid`). */
function refusal(body: unknown): KeyProblem {
  const error = (body as { error?: unknown } | null)?.error;
  return { status: 401, message: typeof error === "string" ? error : "an API key is required" };
}

/** An answer of the API: status and parsed JSON body (or the text when it is not JSON). */
export type Answer<T = unknown> = { status: number; ok: boolean; body: T };

/**
 * Call the API; a network failure is status 0. A POST or DELETE always names JSON, body or not: the API answers
 * 415 to a state-changing request without a JSON type (no cross-site "simple" request can reach those routes).
 */
export async function call<T = unknown>(method: string, path: string, body?: unknown): Promise<Answer<T>> {
  try {
    const changes = method !== "GET" && method !== "HEAD";
    const response = await fetch(path, {
      method,
      headers: headers(body !== undefined || changes ? { "Content-Type": "application/json" } : {}),
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch { /* not JSON */ }
    if (response.status === 401) keyNeeded(refusal(parsed));
    return { status: response.status, ok: response.ok, body: parsed as T };
  } catch (error) {
    return { status: 0, ok: false, body: { error: String(error) } as T };
  }
}

/** The error text of a failed answer. */
export function errorText(answer: Answer): string {
  const b = answer.body as { error?: string; details?: unknown } | string;
  if (answer.status === 0) return "API unreachable";
  if (typeof b === "string") return `${answer.status}: ${b}`;
  const scope = (b?.details as { missing_scope?: unknown } | null)?.missing_scope;
  if (answer.status === 403 && typeof scope === "string") return `403: this key lacks the scope ${scope}`;
  if (answer.status === 401) return `401: ${b?.error ?? "an API key is required"}: enter one above`;
  const details = b?.details
    ? ` — ${typeof b.details === "string" ? b.details : JSON.stringify(b.details)}`
    : "";
  return `${answer.status}: ${b?.error ?? "error"}${details}`;
}

export type FeedState = "connecting" | "live" | "reconnecting" | "unauthorized" | "forbidden";

export type FeedHandlers = {
  event(name: string, data: unknown): void;
  state(state: FeedState, detail?: string): void;
};

/** The server sends a comment at least this often; silence for three of them means the connection is dead. */
const HEARTBEAT_MS = 5_000;

/**
 * Follow /dashboard/events forever: parse events, reconnect after a drop (1 s, then up to 5 s apart) sending
 * the last event id, so the server sends exactly what changed meanwhile. `restart()` reconnects at once (a new
 * API key).
 */
export function followFeed(url: string, on: FeedHandlers): { restart(): void } {
  let lastId = "";
  let abort = new AbortController();
  let failures = 0;
  let wake: () => void = () => {};
  let unauthorized = false;

  const once = async (signal: AbortSignal) => {
    const response = await fetch(url, {
      headers: headers(lastId ? { "Last-Event-ID": lastId } : {}),
      signal,
      cache: "no-store",
    });
    unauthorized = response.status === 401 || response.status === 403;
    if (unauthorized) {
      // Wait for a (new) key: restart() comes when the operator enters one.
      const body = await response.json().catch(() => null);
      if (response.status === 401) {
        on.state("unauthorized");
        keyNeeded(refusal(body));
      } else on.state("forbidden", errorText({ status: 403, ok: false, body }));
      throw new Error("unauthorized");
    }
    if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
    failures = 0;
    on.state("live");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let watchdog = setTimeout(() => abort.abort(), 3 * HEARTBEAT_MS);
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        clearTimeout(watchdog);
        watchdog = setTimeout(() => abort.abort(), 3 * HEARTBEAT_MS);
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          dispatch(block);
        }
      }
    } finally {
      clearTimeout(watchdog);
    }
  };

  const dispatch = (block: string) => {
    let id = "";
    let name = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue; // heartbeat
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "event") name = value;
      else if (field === "data") data.push(value);
    }
    if (data.length === 0) return;
    on.event(name, JSON.parse(data.join("\n")));
    if (id) lastId = id;
  };

  (async () => {
    for (;;) {
      // restart() while waiting aborted the controller meant for this attempt: take a fresh one.
      if (abort.signal.aborted) abort = new AbortController();
      on.state(failures === 0 && !lastId ? "connecting" : "reconnecting");
      try {
        await once(abort.signal);
      } catch { /* dropped, refused or aborted: reconnect below */ }
      failures++;
      if (!abort.signal.aborted && !unauthorized) on.state("reconnecting");
      abort = new AbortController();
      await new Promise<void>((resolve) => {
        wake = resolve;
        // Refused: asking again with the same key cannot help; restart() comes with a new one.
        if (!unauthorized) setTimeout(resolve, Math.min(1000 * failures, 5000));
      });
    }
  })();
  return {
    restart() {
      failures = 0;
      unauthorized = false;
      abort.abort();
      wake();
    },
  };
}
