/// <reference lib="dom" />
/**
 * The tabs under the figures: recent messages, dead letters (dlq.ts), the data (data.ts), and a form to post
 * a message. Each view renders into #view when it is the open tab and its data changes.
 */
import { byId, fill, h, pill, time } from "./dom.ts";
import { call, errorText } from "./http.ts";
import { createDataView } from "./data.ts";
import { createDlqView } from "./dlq.ts";
import type { Meta, Overview, RecentMessage, RowsPage } from "./types.ts";

/** What the views read of the page's state. */
export type ViewState = {
  meta?: Meta;
  overview?: Overview;
  messages: RecentMessage[];
  rows: Map<string, RowsPage>;
};

type Tab = "messages" | "dlq" | "data" | "post";
const TITLES: Record<Tab, string> = {
  messages: "Recent messages",
  dlq: "Dead letters",
  data: "Data",
  post: "Post a message",
};

/** Create the tabs; `openStatus` shows a message's history in the drawer. */
export function createViews(state: ViewState, openStatus: (id: string) => void) {
  let tab: Tab = (location.hash.slice(1) as Tab) in TITLES ? location.hash.slice(1) as Tab : "messages";
  const view = () => byId("view");
  const dlq = createDlqView(state, view, openStatus);
  const data = createDataView(state, view);

  const renderTabs = () => {
    const depth = state.overview?.pipeline?.dlq_depth;
    fill(
      byId("tabs"),
      (Object.keys(TITLES) as Tab[]).map((t) =>
        h(
          "button",
          { class: t === tab ? "tab active" : "tab", "data-tab": t, onclick: () => select(t) },
          TITLES[t],
          t === "dlq" && depth ? h("span", { class: "badge" }, String(depth)) : null,
        )
      ),
    );
  };
  const select = (t: Tab) => {
    tab = t;
    history.replaceState(null, "", `#${t}`);
    renderTabs();
    render();
  };
  const render = () => {
    if (tab !== "dlq") dlq.close();
    if (tab === "messages") renderMessages();
    else if (tab === "dlq") dlq.open();
    else if (tab === "data") data.open();
    else renderPost();
  };

  const renderMessages = () => {
    fill(
      view(),
      h(
        "p",
        { class: "dim small" },
        "Latest status changes across all workers (from PostgreSQL). Click a row for its history.",
      ),
      h(
        "table",
        { class: "grid-table", "data-testid": "messages" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["time", "entity", "message id", "status", "attempts", "error"].map((c) => h("th", {}, c)),
          ),
        ),
        h(
          "tbody",
          {},
          state.messages.map((m) =>
            h(
              "tr",
              { class: "click", "data-id": m.message_id, onclick: () => openStatus(m.message_id) },
              h("td", {}, time(m.processed_at)),
              h("td", {}, m.entity),
              h("td", {}, h("code", {}, m.message_id)),
              h("td", {}, pill(m.status)),
              h("td", { class: "num" }, String(m.attempts)),
              h("td", { class: "error clip", title: m.error ?? "" }, m.error ?? ""),
            )
          ),
        ),
      ),
      state.messages.length === 0 ? h("p", { class: "dim" }, "No message processed yet.") : null,
    );
  };

  // The post form keeps its text across re-renders of the tab (the operator may be editing it).
  const post = { entity: "", text: "", result: null as Node | null };
  const loadSample = async (entity: string) => {
    const answer = await call("GET", `/dashboard/api/sample/${encodeURIComponent(entity)}`);
    post.entity = entity;
    post.text = answer.ok ? JSON.stringify(answer.body, null, 2) : "";
    post.result = answer.ok ? null : h("div", { class: "error" }, errorText(answer));
    if (tab === "post") renderPost();
  };
  const send = async () => {
    const text = (byId<HTMLTextAreaElement>("post-body")).value;
    post.text = text;
    const answer = await call<{ message_id?: string; status?: string }>(
      "POST",
      `/ingest/message/${encodeURIComponent(post.entity)}`,
      text,
    );
    const id = answer.body?.message_id;
    post.result = answer.ok && id
      ? h(
        "div",
        { class: "ok", "data-testid": "post-result" },
        `${answer.status} ${answer.body.status}: `,
        h("a", { href: "#post", onclick: () => openStatus(id) }, id),
      )
      : h("pre", { class: "error", "data-testid": "post-result" }, errorText(answer));
    renderPost();
  };
  const renderPost = () => {
    const ingestible = state.meta?.entities.filter((e) => e.ingestible) ?? [];
    if (!post.entity && ingestible[0]) {
      loadSample(ingestible[0].name);
      return fill(view(), h("p", { class: "dim" }, "loading the sample…"));
    }
    fill(
      view(),
      h(
        "div",
        { class: "row" },
        h(
          "select",
          { id: "post-entity", onchange: (e: Event) => loadSample((e.target as HTMLSelectElement).value) },
          ingestible.map((e) => h("option", { value: e.name, selected: e.name === post.entity }, e.name)),
        ),
        h("button", { onclick: () => loadSample(post.entity) }, "Reset to sample"),
        h(
          "button",
          { class: "primary", "data-testid": "post-send", onclick: send },
          `POST /ingest/message/${post.entity}`,
        ),
      ),
      h("textarea", { id: "post-body", spellcheck: "false", rows: 16, value: post.text }),
      post.result,
    );
  };

  renderTabs();
  render();
  return {
    overviewChanged() {
      renderTabs();
      if (tab === "dlq") dlq.depthChanged();
    },
    messagesChanged() {
      if (tab === "messages") renderMessages();
    },
    rowsChanged(entity: string) {
      if (tab === "data") data.rowsChanged(entity);
    },
    metaLoaded() {
      render();
    },
  };
}
