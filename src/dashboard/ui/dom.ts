/// <reference lib="dom" />
/**
 * The page's few DOM helpers: `h()` builds an element from a tag, attributes and children (no framework: the
 * page is a handful of tables that are re-rendered when their part of the feed changes), plus formatting.
 */

type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

/** An element: `on*` attributes become listeners, `false`/`null` ones are left out. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "value" && "value" in el) (el as HTMLInputElement).value = String(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** The element with this id (the page builds them all at start). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`no element #${id}`);
  return el as T;
}

/** A count for people: 12,345; "—" when unknown (a source down), never a made-up 0. */
export function count(n: number | null | undefined): string {
  return n === null || n === undefined ? "—" : n.toLocaleString("en-US");
}

/** Bytes in KiB/MiB/GiB. */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) (v /= 1024, u++);
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

/** "12:03:04" in the browser's time zone, with the full ISO time as a tooltip. */
export function time(iso: string | null | undefined): HTMLElement {
  if (!iso) return h("span", { class: "dim" }, "—");
  const d = new Date(iso);
  const text = Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString("en-GB", { hour12: false });
  return h("time", { datetime: iso, title: iso }, text);
}

/** How long ago, short: 4s, 3m, 2h. */
export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h`;
}

/** A status as a coloured pill. */
export function pill(status: string): HTMLElement {
  return h("span", { class: `pill s-${status}` }, status);
}
