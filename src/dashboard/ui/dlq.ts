/// <reference lib="dom" />
/**
 * The dead-letter view, on the API's /dlq routes: filter by entity, error text and time; open one to see its
 * errors and original message; replay or drop it; replay every match of the filter. The list reloads when the
 * feed's dead-letter depth changes (one request per open page, only then).
 */
import { byId, count, fill, h, pill, time } from "./dom.ts";
import { call, errorText } from "./http.ts";
import type { DlqEntry } from "./types.ts";
import type { ViewState } from "./views.ts";

type Filter = { entity: string; error: string; since: string; until: string };

/** Create the view; it renders into `view()` when opened. */
export function createDlqView(state: ViewState, view: () => HTMLElement, openStatus: (id: string) => void) {
  const filter: Filter = { entity: "", error: "", since: "", until: "" };
  let entries: DlqEntry[] = [];
  let more = false;
  let notice: Node | null = null;
  let shownDepth: number | undefined;
  let isOpen = false;

  const query = () => {
    const q = new URLSearchParams();
    if (filter.entity) q.set("entity", filter.entity);
    if (filter.error) q.set("error", filter.error);
    // datetime-local is the browser's local time; the API takes ISO instants.
    if (filter.since) q.set("since", new Date(filter.since).toISOString());
    if (filter.until) q.set("until", new Date(filter.until).toISOString());
    return q;
  };
  const load = async () => {
    const q = query();
    q.set("limit", "200");
    const answer = await call<{ entries: DlqEntry[]; next_cursor: string | null }>("GET", `/dlq?${q}`);
    if (answer.ok) {
      entries = answer.body.entries;
      more = answer.body.next_cursor !== null;
    } else notice = h("div", { class: "error" }, errorText(answer));
    shownDepth = state.overview?.pipeline?.dlq_depth;
    if (isOpen) render();
  };
  const act = async (method: string, path: string, body?: unknown) => {
    const answer = await call<Record<string, unknown>>(method, path, body);
    notice = answer.ok
      ? h("div", { class: "ok", "data-testid": "dlq-notice" }, summary(answer.body))
      : h("div", { class: "error", "data-testid": "dlq-notice" }, errorText(answer));
    byId("drawer").hidden = true;
    await load();
  };
  const summary = (b: Record<string, unknown>) =>
    "matched" in b
      ? `replayed ${b.replayed} of ${b.matched}${
        b.failed ? `, ${b.failed} failed: ${(b.errors as string[]).join("; ")}` : ""
      }`
      : `${b.message_id}: ${b.status}`;

  const show = async (id: string) => {
    const drawer = byId("drawer");
    drawer.hidden = false;
    const head = h(
      "div",
      { class: "drawer-head" },
      h("b", {}, `Dead letter ${id}`),
      h("button", { class: "ghost", onclick: () => (drawer.hidden = true) }, "✕"),
    );
    fill(drawer, head, h("div", { class: "dim" }, "loading…"));
    const answer = await call<DlqEntry>("GET", `/dlq/${encodeURIComponent(id)}`);
    if (!answer.ok) return fill(drawer, head, h("div", { class: "error" }, errorText(answer)));
    const e = answer.body;
    fill(
      drawer,
      head,
      h(
        "div",
        { class: "row" },
        h("button", {
          class: "primary",
          "data-testid": "dlq-replay",
          onclick: () => act("POST", `/dlq/${encodeURIComponent(id)}/replay`),
        }, "Replay"),
        h("button", {
          class: "danger",
          "data-testid": "dlq-drop",
          onclick: () => confirm(`Drop ${id} for good?`) && act("DELETE", `/dlq/${encodeURIComponent(id)}`),
        }, "Drop"),
        h("button", { class: "ghost", onclick: () => openStatus(id) }, "Status history"),
      ),
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "entity"),
        h("dd", {}, e.entity),
        h("dt", {}, "attempts"),
        h("dd", {}, String(e.attempts)),
        h("dt", {}, "received"),
        h("dd", {}, time(e.received_at)),
        h("dt", {}, "dead-lettered"),
        h("dd", {}, time(e.dead_at)),
      ),
      h("h4", {}, "Errors"),
      h(
        "ol",
        { class: "history" },
        e.history.filter((x) => x.error).map((x) =>
          h("li", {}, time(x.at), " ", pill(x.status), h("div", { class: "error small" }, x.error!))
        ),
      ),
      h("h4", {}, "Message"),
      h(
        "pre",
        { class: "json", "data-testid": "dlq-message" },
        e.message !== undefined
          ? JSON.stringify(e.message, null, 2)
          : e.message_hidden
          ? "(hidden: showing the original message needs a key with the dlq scope)"
          : e.raw ?? "(the entry is gone from the stream)",
      ),
    );
  };

  const input = (key: keyof Filter, attrs: Record<string, string>) =>
    h("input", {
      ...attrs,
      value: filter[key],
      onchange: (ev: Event) => (filter[key] = (ev.target as HTMLInputElement).value),
    });
  const render = () => {
    const entities = state.meta?.entities.filter((e) => e.ingestible) ?? [];
    fill(
      view(),
      h(
        "form",
        { class: "row", onsubmit: (ev: Event) => (ev.preventDefault(), notice = null, load()) },
        h(
          "select",
          {
            "data-testid": "dlq-entity",
            onchange: (ev: Event) => (filter.entity = (ev.target as HTMLSelectElement).value),
          },
          h("option", { value: "" }, "all entities"),
          entities.map((e) => h("option", { value: e.name, selected: e.name === filter.entity }, e.name)),
        ),
        input("error", { placeholder: "error text (e.g. 23514)", "data-testid": "dlq-error", size: "28" }),
        h(
          "label",
          { class: "small dim" },
          "since ",
          input("since", { type: "datetime-local", "data-testid": "dlq-since" }),
        ),
        h(
          "label",
          { class: "small dim" },
          "until ",
          input("until", { type: "datetime-local", "data-testid": "dlq-until" }),
        ),
        h("button", { type: "submit", "data-testid": "dlq-filter" }, "Filter"),
        h("button", {
          type: "button",
          class: "primary",
          "data-testid": "dlq-replay-all",
          disabled: entries.length === 0,
          onclick: () => {
            const q = Object.fromEntries(query());
            const scope = Object.keys(q).length === 0 ? { all: true } : q;
            if (confirm(`Replay every dead letter matching ${JSON.stringify(scope)}?`)) {
              act("POST", "/dlq/replay", scope);
            }
          },
        }, "Replay all matching"),
      ),
      notice,
      h(
        "table",
        { class: "grid-table", "data-testid": "dlq" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["dead-lettered", "entity", "message id", "attempts", "error"].map((c) => h("th", {}, c)),
          ),
        ),
        h(
          "tbody",
          {},
          entries.map((e) =>
            h(
              "tr",
              {
                class: "click",
                "data-id": e.message_id,
                "data-testid": "dlq-row",
                onclick: () => show(e.message_id),
              },
              h("td", {}, time(e.dead_at)),
              h("td", {}, e.entity),
              h("td", {}, h("code", {}, e.message_id)),
              h("td", { class: "num" }, String(e.attempts)),
              h("td", { class: "error clip", title: e.error ?? "" }, e.error ?? ""),
            )
          ),
        ),
      ),
      entries.length === 0 ? h("p", { class: "dim" }, "No dead letter matches.") : null,
      more
        ? h(
          "p",
          { class: "dim small" },
          `Showing the oldest ${count(entries.length)}; narrow the filter to see others.`,
        )
        : null,
    );
  };

  return {
    open() {
      isOpen = true;
      render();
      load();
    },
    depthChanged() {
      if (state.overview?.pipeline?.dlq_depth !== shownDepth) load();
    },
    close() {
      isOpen = false;
    },
  };
}
