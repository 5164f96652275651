/// <reference lib="dom" />
/**
 * The data view: the latest rows of a table, newest first. The first page is live (from the feed); older
 * pages are read on request. A root row opens its derived rows (each derived table, by `_root_key`). Values
 * are shown as PostgreSQL's text of them, unchanged; SQL NULL is shown as a dimmed NULL.
 */
import { fill, h } from "./dom.ts";
import { call, errorText } from "./http.ts";
import type { RowsPage } from "./types.ts";
import type { ViewState } from "./views.ts";

/** Create the view; it renders into `view()` when opened. */
export function createDataView(state: ViewState, view: () => HTMLElement) {
  let entity = "";
  /** Older pages: the `before` ids walked so far; empty = the live first page. */
  let trail: string[] = [];
  let page: RowsPage | undefined;
  let error: string | undefined;
  const expanded = new Map<string, RowsPage[] | string>();

  const stored = () => state.meta?.entities.filter((e) => e.table) ?? [];
  const current = () => (trail.length === 0 ? state.rows.get(entity) : page);

  const go = async (before?: string) => {
    if (before === undefined) {
      trail = [];
      page = undefined;
      return render();
    }
    const answer = await call<RowsPage>(
      "GET",
      `/dashboard/api/rows/${encodeURIComponent(entity)}?before=${before}&limit=25`,
    );
    if (!answer.ok) error = errorText(answer);
    else {
      trail.push(before);
      page = answer.body;
      error = undefined;
    }
    render();
  };
  const back = async () => {
    trail.pop();
    const before = trail.pop();
    await go(before);
  };
  const toggle = async (rootKey: string) => {
    if (expanded.has(rootKey)) {
      expanded.delete(rootKey);
      return render();
    }
    const derived = state.meta?.entities.find((e) => e.name === entity)?.derived ?? [];
    const pages = await Promise.all(
      derived.map((d) =>
        call<RowsPage>(
          "GET",
          `/dashboard/api/rows/${encodeURIComponent(d)}?root_key=${encodeURIComponent(rootKey)}&limit=200`,
        )
      ),
    );
    const failed = pages.find((p) => !p.ok);
    expanded.set(rootKey, failed ? errorText(failed) : pages.map((p) => p.body));
    render();
  };

  const cell = (v: string | null) =>
    v === null
      ? h("td", { class: "null" }, "NULL")
      : h("td", { class: "clip", title: v.length > 40 ? v : false }, v);
  const table = (p: RowsPage, testid: string, nested = false): HTMLTableElement =>
    h(
      "table",
      { class: nested ? "grid-table nested" : "grid-table", "data-testid": testid },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          p.root_keys ? h("th", {}) : null,
          p.columns.map((c) => h("th", { class: c.startsWith("_") ? "meta" : "" }, c)),
        ),
      ),
      h(
        "tbody",
        {},
        p.rows.map((r, i) => {
          const key = p.root_keys?.[i];
          const open = key !== undefined && expanded.get(key);
          return [
            h(
              "tr",
              { "data-row-id": r[0] ?? "" },
              key !== undefined
                ? h(
                  "td",
                  {},
                  h("button", {
                    class: "ghost small",
                    "data-testid": "expand",
                    title: "derived rows",
                    onclick: () => toggle(key),
                  }, open ? "▾" : "▸"),
                )
                : null,
              r.map(cell),
            ),
            open
              ? h(
                "tr",
                { class: "children" },
                h(
                  "td",
                  { colspan: r.length + 1 },
                  typeof open === "string" ? h("div", { class: "error" }, open) : open.map((
                    c,
                  ) => [
                    h(
                      "div",
                      { class: "small dim" },
                      `${c.entity} (${c.table}): ${c.rows.length} row${c.rows.length === 1 ? "" : "s"}`,
                    ),
                    table(c, `children-${c.entity}`, true),
                  ]),
                ),
              )
              : null,
          ];
        }),
      ),
    );

  const render = () => {
    const tables = stored();
    // Start on the table that has rows (an empty customers table is a poor first sight).
    if (!entity) {
      const busy = state.overview?.entities.flatMap((e) => e.tables).find((t) => (t.rows ?? 0) > 0);
      entity = busy?.entity ?? tables[0]?.name ?? "";
    }
    const p = current();
    fill(
      view(),
      h(
        "div",
        { class: "row" },
        h(
          "select",
          {
            "data-testid": "data-entity",
            onchange: (e: Event) => (entity = (e.target as HTMLSelectElement).value, expanded.clear(), go()),
          },
          tables.map((e) =>
            h(
              "option",
              { value: e.name, selected: e.name === entity },
              `${e.table} (${e.name}${e.kind === "derived" ? `, derived from ${e.root}` : ""})`,
            )
          ),
        ),
        h("button", { disabled: trail.length === 0, onclick: () => go() }, "⇤ newest (live)"),
        h("button", { disabled: trail.length === 0, onclick: back }, "‹ newer"),
        h("button", {
          disabled: !p?.next_before,
          "data-testid": "older",
          onclick: () => p?.next_before && go(p.next_before),
        }, "older ›"),
        h(
          "span",
          { class: "dim small" },
          trail.length === 0 ? "live: the 10 newest rows" : `page ${trail.length + 1}`,
        ),
      ),
      error ? h("div", { class: "error" }, error) : null,
      p ? table(p, `rows-${entity}`) : h("p", { class: "dim" }, "waiting for the feed…"),
      p && p.rows.length === 0 ? h("p", { class: "dim" }, "The table is empty.") : null,
    );
  };

  return {
    open: render,
    rowsChanged(name: string) {
      if (name === entity && trail.length === 0) render();
    },
  };
}
