// A small SVG line chart: epochs on x, one path per series, redrawn whole on every update
// (a few jobs of at most a few hundred epochs: cheap, and no state to keep in step).

const SVG = "http://www.w3.org/2000/svg";
const MARGIN = { left: 44, right: 12, top: 10, bottom: 28 };

function element(name, attributes, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

// Round tick values covering [low, high].
function ticks(low, high, count) {
  const span = high - low || 1;
  const step = 10 ** Math.floor(Math.log10(span / count));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => span / s <= count) || step * 10;
  const out = [];
  for (let t = Math.ceil(low / nice) * nice; t <= high + 1e-9; t += nice) out.push(Number(t.toFixed(10)));
  return out;
}

// series: [{job, kind, color, dash, width, points: [[x, y], ...]}]; y range: fixed or from the data.
export function drawChart(svg, series, { yMin = null, yMax = null, format = (v) => v } = {}) {
  const [, , width, height] = svg.getAttribute("viewBox").split(" ").map(Number);
  svg.replaceChildren();
  const all = series.flatMap((s) => s.points);
  const xMax = Math.max(1, ...all.map((p) => p[0]));
  let low = yMin ?? Math.min(...all.map((p) => p[1]));
  let high = yMax ?? Math.max(...all.map((p) => p[1]));
  if (!all.length) { low = yMin ?? 0; high = yMax ?? 1; }
  if (high - low < 1e-9) { if (yMax !== null) low = high - 1; else high = low + 1; } // a flat curve
  const w = width - MARGIN.left - MARGIN.right;
  const h = height - MARGIN.top - MARGIN.bottom;
  const x = (v) => MARGIN.left + (v / xMax) * w;
  const y = (v) => MARGIN.top + h - ((v - low) / (high - low)) * h;
  const axes = element("g", { class: "axes" }, svg);
  for (const t of ticks(low, high, 5)) {
    element("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: y(t), y2: y(t), class: "grid" }, axes);
    element("text", { x: MARGIN.left - 4, y: y(t) + 4, "text-anchor": "end" }, axes).textContent = format(t);
  }
  for (const t of ticks(0, xMax, 8).filter((t) => Number.isInteger(t))) {
    element("text", { x: x(t), y: height - 10, "text-anchor": "middle" }, axes).textContent = t;
  }
  for (const s of series) {
    const d = s.points.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
    element("path", {
      d: d || "M0,0", fill: "none", stroke: s.color, "stroke-width": s.width || 2,
      "stroke-dasharray": s.dash || "none", "data-job": s.job, "data-kind": s.kind,
      "data-points": s.points.length, class: "series",
    }, svg);
    if (s.points.length === 1 && !s.dash) { // one epoch so far: a dot, since a path of one point is invisible
      const [px, py] = s.points[0];
      element("circle", { cx: x(px), cy: y(py), r: 3, fill: s.color }, svg);
    }
  }
}
