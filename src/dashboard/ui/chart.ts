/// <reference lib="dom" />
/**
 * Rates drawn as SVG by hand: a line chart of a few series over the last minutes and a sparkline. Forty lines
 * instead of a charting library: the page needs lines on a time axis and nothing else.
 */

const NS = "http://www.w3.org/2000/svg";

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** One line: its name (legend), CSS class (colour) and values per bucket, oldest first. */
export type Series = { name: string; cls: string; values: number[] };

/** A round upper bound for the y axis: 1, 2, 5, 10, 20, 50, … */
function niceMax(n: number): number {
  if (n <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(n));
  return [1, 2, 5, 10].map((m) => m * p).find((v) => v >= n)!;
}

/** A line chart of per-second rates; `bucketSeconds` per point, the last point is now. */
export function lineChart(series: Series[], bucketSeconds: number, unit = "/s"): SVGSVGElement {
  const W = 640, H = 180, L = 44, R = 8, T = 10, B = 22;
  const points = Math.max(...series.map((s) => s.values.length), 2);
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const x = (i: number) => L + (i / (points - 1)) * (W - L - R);
  const y = (v: number) => T + (1 - v / max) * (H - T - B);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img" });
  for (let g = 0; g <= 4; g++) {
    const v = (max * g) / 4;
    root.appendChild(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
    const label = svg("text", { x: L - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" });
    label.textContent = `${+v.toFixed(2)}${g === 4 ? unit : ""}`;
    root.appendChild(label);
  }
  const span = (points - 1) * bucketSeconds;
  for (const frac of [0, 0.5, 1]) {
    const t = svg("text", {
      x: x(frac * (points - 1)),
      y: H - 6,
      class: "axis",
      "text-anchor": frac === 0 ? "start" : frac === 1 ? "end" : "middle",
    });
    const minutes = Math.round((span * (1 - frac)) / 60);
    t.textContent = frac === 1 ? "now" : `−${minutes} min`;
    root.appendChild(t);
  }
  for (const s of series) {
    const d = s.values.map((v, i) => `${i === 0 ? "M" : "L"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("");
    root.appendChild(svg("path", { d, class: `line ${s.cls}` }));
  }
  return root;
}

/** A small line without axes (an entity card's completions). */
export function sparkline(values: number[], cls: string): SVGSVGElement {
  const W = 160, H = 32;
  const max = Math.max(1, ...values);
  const n = Math.max(values.length - 1, 1);
  const d = values.map((v, i) =>
    `${i === 0 ? "M" : "L"}${((i / n) * W).toFixed(1)},${(H - 2 - (v / max) * (H - 4)).toFixed(1)}`
  )
    .join("");
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "spark", preserveAspectRatio: "none" });
  root.appendChild(svg("path", { d: `${d}L${W},${H}L0,${H}Z`, class: `area ${cls}` }));
  root.appendChild(svg("path", { d, class: `line ${cls}` }));
  return root;
}
