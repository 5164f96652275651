/// <reference lib="dom" />
/**
 * The dashboard page: lays out the panels, follows the live feed and renders each part when it changes. The
 * tabs below (messages, dead letters, data, post) live in views.ts. When the API answers 401 the page asks for a
 * key (kept for this tab only, see http.ts); the header changes or forgets it.
 */
import { lineChart, type Series, sparkline } from "./chart.ts";
import { ago, byId, bytes, count, fill, h, pill, time } from "./dom.ts";
import {
  apiKey,
  call,
  errorText,
  type FeedState,
  followFeed,
  type KeyProblem,
  onKeyNeeded,
  setApiKey,
} from "./http.ts";
import type { Meta, Overview, Rates, RecentMessage, RowsPage, StoredStatus } from "./types.ts";
import { createViews } from "./views.ts";

const state = {
  meta: undefined as Meta | undefined,
  overview: undefined as Overview | undefined,
  rates: undefined as Rates | undefined,
  messages: [] as RecentMessage[],
  rows: new Map<string, RowsPage>(),
  lastEvent: 0,
  feed: "connecting" as FeedState,
  feedDetail: "",
};

byId("app").append(
  h(
    "header",
    {},
    h("div", { class: "brand" }, h("b", {}, "nomnom"), h("span", { id: "ns", class: "dim" })),
    h("div", { id: "conn", class: "conn", "data-testid": "conn", "data-state": "connecting" }, "connecting…"),
    h("div", { class: "spacer" }),
    h("span", { id: "proc", class: "dim small" }),
    h(
      "div",
      { class: "key" },
      h("span", { id: "key-state", class: "dim small", "data-testid": "key-state" }),
      h("button", { class: "ghost", "data-testid": "key-change", onclick: () => askForKey() }, "API key…"),
      h("button", {
        id: "key-forget",
        class: "ghost",
        "data-testid": "key-forget",
        onclick: () => useKey(""),
      }, "Forget key"),
    ),
  ),
  h("section", { id: "key-prompt", class: "panel key-prompt", "data-testid": "key-prompt", hidden: true }),
  h("section", { id: "pipeline", class: "tiles" }),
  h(
    "section",
    { class: "top" },
    h("div", { id: "entities", class: "cards" }),
    h(
      "div",
      { class: "panel chart-panel" },
      h(
        "div",
        { class: "panel-title" },
        "Throughput, last 10 minutes",
        h("span", { id: "legend", class: "legend" }),
      ),
      h("div", { id: "chart" }),
    ),
  ),
  h("nav", { id: "tabs", class: "tabs" }),
  h("section", { id: "view", class: "panel view" }),
  h("aside", { id: "drawer", class: "drawer", hidden: true }),
);

const views = createViews(state, openStatus);

function renderConn() {
  const el = byId("conn");
  el.dataset.state = state.feed;
  const since = state.lastEvent ? ` · updated ${ago(Date.now() - state.lastEvent)} ago` : "";
  const text: Record<FeedState, string> = {
    connecting: "connecting…",
    live: `● live${since}`,
    reconnecting: `○ reconnecting…${since}`,
    unauthorized: "● API key needed",
    forbidden: `● ${state.feedDetail.replace(/^403: /, "")}`,
  };
  el.textContent = text[state.feed];
}

function renderKeyState() {
  byId("key-state").textContent = apiKey() ? "API key set (this tab only)" : "no API key";
  byId("key-forget").hidden = !apiKey();
}

/** Keep (or forget, with "") the key, then read everything again with it. */
function useKey(key: string) {
  setApiKey(key);
  byId("key-prompt").hidden = true;
  renderKeyState();
  feed.restart();
  loadMeta();
}

/** The prompt: why a key is needed (the API's words), a field, and what each scope shows. */
function askForKey(problem?: KeyProblem) {
  const prompt = byId("key-prompt");
  const typing = !prompt.hidden && document.activeElement?.id === "key-input";
  if (typing) return; // a refusal of another request must not wipe what the operator is typing
  const input = h("input", {
    id: "key-input",
    "data-testid": "key-input",
    type: "password",
    autocomplete: "off",
    placeholder: "API key",
  });
  fill(
    prompt,
    h("b", {}, problem ? "This nomnom needs an API key" : "Change the API key"),
    problem
      ? h("div", { class: "error", "data-testid": "key-reason" }, `The API answered 401: ${problem.message}.`)
      : null,
    h(
      "form",
      {
        class: "row",
        onsubmit: (ev: Event) => (ev.preventDefault(), input.value.trim() && useKey(input.value.trim())),
      },
      input,
      h("button", { class: "primary", type: "submit", "data-testid": "key-save" }, "Use this key"),
      h("button", { class: "ghost", type: "button", onclick: () => (prompt.hidden = true) }, "Cancel"),
    ),
    h(
      "div",
      { class: "dim small" },
      "A key with the read scope shows the figures, messages and data; replaying and dropping dead letters " +
        "needs dlq, posting messages ingest. The key is kept in this tab only (sessionStorage), never in a " +
        "cookie; Forget key removes it.",
    ),
  );
  prompt.hidden = false;
  input.focus();
}
onKeyNeeded((problem) => askForKey(problem));

function renderOverview(o: Overview) {
  byId("ns").textContent = ` ${o.namespace} · v${o.process.version}`;
  byId("proc").textContent =
    `this process: ${o.process.role}, up since ${
      new Date(o.process.started_at).toLocaleTimeString("en-GB")
    }, ` +
    `${o.process.dashboard_clients} dashboard${o.process.dashboard_clients === 1 ? "" : "s"} open`;
  const p = o.pipeline;
  const tile = (label: string, value: string, testid: string, cls = "", hint = "") =>
    h(
      "div",
      { class: `tile ${cls}`, "data-testid": testid, title: hint },
      h("div", { class: "v" }, value),
      h("div", { class: "l" }, label),
    );
  const ok = (name: string, s: { ok: boolean; error?: string }) =>
    tile(name, s.ok ? "up" : "DOWN", name.toLowerCase(), s.ok ? "good" : "bad", s.error ?? "reachable");
  const workers = p?.workers ?? [];
  fill(
    byId("pipeline"),
    tile(
      "backlog (pending)",
      count(p?.pending),
      "pending",
      p && p.pending > 0 ? "warn" : "",
      "messages not yet delivered to a worker",
    ),
    tile("ack pending", count(p?.ack_pending), "ack-pending", "", "delivered, not yet acked"),
    tile(
      "redeliveries",
      count(p?.redelivered),
      "redelivered",
      p && p.redelivered > 0 ? "warn" : "",
      "messages delivered more than once, awaiting ack",
    ),
    tile(
      "dead letters",
      count(p?.dlq_depth),
      "dlq-depth",
      p && p.dlq_depth > 0 ? "bad" : "",
      "messages in the dead-letter stream",
    ),
    tile(
      "ingest stream",
      `${count(p?.ingest_messages)} · ${bytes(p?.ingest_bytes)}`,
      "stream",
      "",
      "messages and bytes in the work-queue stream",
    ),
    tile(
      "workers connected",
      p ? String(workers.length) : "—",
      "workers",
      p && workers.length === 0 ? "bad" : "",
      workers.map((w) => `${w.name} pid ${w.pid}, v${w.version}, since ${w.started_at}`).join("\n") ||
        "no worker answered",
    ),
    ok("NATS", o.health.nats),
    ok("PostgreSQL", o.health.postgres),
  );
  renderCards();
  views.overviewChanged();
}

function renderCards() {
  const o = state.overview;
  if (!o) return;
  const stat = (label: string, n: number | null, key: string, cls = "") =>
    h(
      "div",
      { class: `stat ${cls}`, "data-count": key },
      h("div", { class: "v" }, count(n)),
      h("div", { class: "l" }, label),
    );
  fill(
    byId("entities"),
    o.entities.map((e) => {
      const r = state.rates?.series[e.name];
      // The last full bucket (the current one is still filling) and the highest of the ten minutes.
      const perSecond = r ? r.completed.slice(0, -1).map((v) => v / state.rates!.bucket_seconds) : [];
      return h(
        "div",
        { class: "panel card", "data-entity": e.name },
        h(
          "div",
          { class: "panel-title" },
          e.name,
          h(
            "span",
            {
              class: "dim small",
              title: "accepted: messages with a status in PostgreSQL, whichever API replica took them; " +
                "here: taken by this API process since it started",
            },
            h("span", { "data-count": "accepted" }, "accepted ", h("b", { class: "v" }, count(e.accepted))),
            ` · here ${count(e.accepted_here)}`,
          ),
        ),
        h(
          "div",
          { class: "stats" },
          stat("completed", e.completed, "completed", "good"),
          stat("in flight", e.in_progress, "in-progress"),
          stat("retrying", e.retrying, "retrying", e.retrying ? "warn" : ""),
          stat("dead", e.dlq, "dlq", e.dlq ? "bad" : ""),
        ),
        r ? sparkline(perSecond, "c-completed") : null,
        r
          ? h(
            "div",
            { class: "small dim", "data-testid": "rate" },
            `completed ${rate(perSecond.at(-1) ?? 0)}/s now, at most ${rate(Math.max(0, ...perSecond))}/s ` +
              `in the last ${Math.round((perSecond.length * state.rates!.bucket_seconds) / 60)} min`,
          )
          : null,
        h(
          "div",
          { class: "tables small" },
          e.tables.map((t) =>
            h(
              "span",
              { class: "table-count", "data-table": t.table },
              h("code", {}, t.table),
              " ",
              h("b", {}, count(t.rows)),
              " rows",
            )
          ),
        ),
      );
    }),
  );
}

/** A per-second rate, short: 12, 3.4, 0.1. */
function rate(v: number): string {
  return String(+v.toFixed(v >= 10 ? 0 : 1));
}

function renderChart(r: Rates) {
  const sum = (pick: (s: Rates["series"][string]) => number[]) =>
    Object.values(r.series).reduce(
      (acc, s) => acc.map((v, i) => v + pick(s)[i]),
      r.accepted_here.map(() => 0),
    );
  // The current bucket is still filling: drawn, it would show every rate falling to zero at "now".
  const perSecond = (values: number[]) => values.slice(0, -1).map((v) => v / r.bucket_seconds);
  const series: Series[] = [
    { name: "accepted (this process)", cls: "c-accepted", values: perSecond(r.accepted_here) },
    { name: "completed", cls: "c-completed", values: perSecond(sum((s) => s.completed)) },
    { name: "retried", cls: "c-retrying", values: perSecond(sum((s) => s.retrying)) },
    { name: "dead-lettered", cls: "c-dlq", values: perSecond(sum((s) => s.dlq)) },
  ];
  fill(byId("chart"), lineChart(series, r.bucket_seconds));
  fill(byId("legend"), series.map((s) => h("span", { class: `key-${s.cls}` }, "■ ", s.name)));
  renderCards();
}

/** The drawer: a message's status history (GET /ingest/status/{id}). */
async function openStatus(id: string) {
  const drawer = byId("drawer");
  drawer.hidden = false;
  fill(drawer, drawerHead(`Message ${id}`), h("div", { class: "dim" }, "loading…"));
  const answer = await call<StoredStatus>("GET", `/ingest/status/${encodeURIComponent(id)}`);
  if (!answer.ok) {
    return fill(drawer, drawerHead(`Message ${id}`), h("div", { class: "error" }, errorText(answer)));
  }
  const s = answer.body;
  fill(
    drawer,
    drawerHead(`Message ${id}`),
    h(
      "dl",
      { class: "facts", "data-testid": "status-detail" },
      h("dt", {}, "entity"),
      h("dd", {}, s.entity),
      h("dt", {}, "status"),
      h("dd", {}, pill(s.status)),
      h("dt", {}, "attempts"),
      h("dd", {}, String(s.attempts)),
      h("dt", {}, "received"),
      h("dd", {}, time(s.received_at)),
      h("dt", {}, "processed"),
      h("dd", {}, time(s.processed_at)),
      s.error ? [h("dt", {}, "error"), h("dd", { class: "error" }, s.error)] : null,
    ),
    h("h4", {}, "History"),
    h(
      "ol",
      { class: "history", "data-testid": "history" },
      (s.history ?? []).map((e) =>
        h(
          "li",
          {},
          time(e.at),
          " ",
          pill(e.status),
          e.attempts ? ` attempt ${e.attempts}` : "",
          e.error ? h("div", { class: "error small" }, e.error) : null,
        )
      ),
    ),
  );
}

function drawerHead(title: string) {
  return h(
    "div",
    { class: "drawer-head" },
    h("b", {}, title),
    h("button", { class: "ghost", onclick: () => (byId("drawer").hidden = true) }, "✕"),
  );
}

const feed = followFeed("/dashboard/events", {
  state(s, detail) {
    state.feed = s;
    state.feedDetail = detail ?? "";
    renderConn();
  },
  event(name, data) {
    state.lastEvent = Date.now();
    if (name === "overview") renderOverview(state.overview = data as Overview);
    else if (name === "rates") renderChart(state.rates = data as Rates);
    else if (name === "messages") (state.messages = data as RecentMessage[], views.messagesChanged());
    else if (name.startsWith("rows.")) {
      (state.rows.set(name.slice(5), data as RowsPage), views.rowsChanged(name.slice(5)));
    }
    renderConn();
  },
});
setInterval(renderConn, 1000);

function loadMeta() {
  if (state.meta) return;
  call<Meta>("GET", "/dashboard/api/entities").then((answer) => {
    if (answer.ok) {
      state.meta = answer.body;
      views.metaLoaded();
    }
  });
}
renderKeyState();
loadMeta();

export type State = typeof state;
