// The dashboard page: fetch /api/*, draw tables and an SVG chart. No framework, no build step.
"use strict";

const fmt = (n) => (Number.isInteger(n) ? n.toLocaleString("en") : Number(n).toLocaleString("en", { maximumFractionDigits: 2 }));
const pct = (r) => `${Math.round(r * 100)}%`;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k === "style") node.setAttribute("style", v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function table(headers, rows, attrs) {
  return el("table", attrs || {}, el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))), el("tbody", {}, rows));
}

async function getJSON(path) {
  const resp = await fetch(path);
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(`${path}: ${resp.status} ${body.title || ""} ${body.description || ""}`);
  return body;
}

async function draw(id, path, render) {
  const box = document.getElementById(id);
  try {
    const data = await getJSON(path);
    box.replaceChildren(render(data));
  } catch (err) {
    box.replaceChildren(el("p", { class: "error" }, String(err.message || err)));
  }
}

function summary(s) {
  const cards = [
    el("div", { class: "card", "data-testid": "hosts" }, el("b", {}, fmt(s.hosts)), "hosts"),
    el("div", { class: "card", "data-testid": "providers" }, el("b", {}, fmt(s.providers)), "providers"),
    el("div", { class: "card", "data-testid": "disabled" }, el("b", {}, fmt(s.disabled_hosts)), "disabled"),
  ];
  for (const [rc, t] of Object.entries(s.totals).sort()) {
    cards.push(el("div", { class: "card", "data-testid": `total-${rc}` },
      el("b", {}, `${fmt(t.used)} / ${fmt(t.capacity)}`), `${rc} used`));
  }
  return el("div", { class: "cards" }, cards);
}

function heatColour(ratio) {
  // green (free) to red (full)
  const hue = Math.round(120 * (1 - Math.min(Math.max(ratio, 0), 1)));
  return `hsl(${hue}, 70%, 78%)`;
}

function heatmap(h) {
  if (!h.hosts.length) return el("p", { class: "note" }, "no resource providers");
  const rows = h.hosts.map((row) => el("tr", { "data-host": row.host },
    el("td", {}, row.host, row.disabled ? el("span", { class: "badge off" }, "disabled") : ""),
    el("td", { class: "text" }, row.zone),
    h.classes.map((rc) => {
      const c = row.cells[rc];
      if (!c) return el("td", { class: "cell", "data-rc": rc }, "–");
      return el("td", { class: "cell", "data-rc": rc, title: `${fmt(c.used)} of ${fmt(c.capacity)}`,
        style: `background:${heatColour(c.ratio)}` }, pct(c.ratio));
    })));
  return table(["host", "zone", ...h.classes], rows, { class: "heat" });
}

function capacity(c) {
  const rows = c.flavors.map((f) => el("tr", { "data-flavor": f.flavor.name },
    el("td", {}, f.flavor.name),
    el("td", { class: "text" }, `${f.flavor.vcpus} VCPU, ${fmt(f.flavor.memory_mb)} MB, ${f.flavor.disk_gb} GB`),
    c.zones.map((z) => el("td", { "data-zone": z }, fmt(f.zones[z].instances))),
    el("td", { "data-zone": "total" }, el("b", {}, fmt(f.total)))));
  return el("div", {}, table(["flavor", "size", ...c.zones, "total"], rows),
    el("p", { class: "note" }, `from ${c.source}; disabled hosts left out`));
}

function decisions(d) {
  if (!d.decisions.length) return el("p", { class: "note" }, d.note || "no decisions yet");
  const rows = d.decisions.map((x) => el("tr", { "data-outcome": x.outcome, "data-reservation": x.reservation_id },
    el("td", {}, new Date(x.at * 1000).toLocaleTimeString()),
    el("td", { class: "text" }, x.kind), el("td", { class: "text" }, x.flavor), el("td", {}, x.num_instances),
    el("td", { class: `text outcome-${x.outcome}` }, x.outcome.replaceAll("_", " ")),
    el("td", { class: "text" }, x.hosts.join(", ")), el("td", {}, x.alternates), el("td", {}, x.hosts_considered),
    el("td", {}, fmt(x.timings_ms.total || 0)), el("td", { class: "reason" }, x.reason || "")));
  return table(["time", "kind", "flavor", "n", "outcome", "hosts", "alt.", "considered", "ms", "reason"], rows);
}

function flatten(obj, prefix, out) {
  for (const [k, v] of Object.entries(obj || {})) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (typeof v === "number") out[key] = v;
    else if (v && typeof v === "object" && !Array.isArray(v)) flatten(v, key, out);
  }
  return out;
}

const COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04"];

function chart(runs, field) {
  const W = 520, H = 180, P = 30;
  const series = runs.map((r) => (r.series || []).map((p) => [p.t, flatten(p, "", {})[field]]).filter((p) => typeof p[1] === "number"));
  const xs = series.flat().map((p) => p[0]), ys = series.flat().map((p) => p[1]);
  if (!xs.length) return null;
  const x0 = Math.min(...xs), x1 = Math.max(...xs) || 1, y1 = Math.max(...ys, 0) || 1;
  const sx = (x) => P + ((x - x0) / ((x1 - x0) || 1)) * (W - 2 * P);
  const sy = (y) => H - P + 10 - (y / y1) * (H - 2 * P);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  svg.setAttribute("data-field", field);
  const add = (tag, attrs, text) => {
    const n = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
  };
  add("text", { x: P, y: 14, "font-size": 12 }, `${field} (max ${fmt(y1)})`);
  add("line", { x1: P, y1: sy(0), x2: W - P, y2: sy(0), stroke: "#999" });
  series.forEach((pts, i) => {
    if (!pts.length) return;
    add("polyline", { fill: "none", stroke: COLOURS[i % COLOURS.length], "stroke-width": 2,
      points: pts.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ") });
  });
  return svg;
}

function simulation(s) {
  if (!s.runs.length) return el("p", { class: "note" }, s.note || "no simulation runs");
  const keys = [...new Set(s.runs.flatMap((r) => Object.keys(flatten(r.summary, "", {}))))];
  const rows = keys.map((k) => el("tr", { "data-metric": k }, el("td", {}, k),
    s.runs.map((r) => { const v = flatten(r.summary, "", {})[k]; return el("td", {}, v === undefined ? "–" : fmt(v)); })));
  const parts = [];
  if (s.name) parts.push(el("p", {}, el("b", {}, s.name)));
  parts.push(table(["", ...s.runs.map((r) => r.name)], rows, { "data-testid": "simulation-summary" }));
  const fields = [...new Set(s.runs.flatMap((r) => (r.series || []).flatMap((p) => Object.keys(flatten(p, "", {})))))].filter((f) => f !== "t");
  if (fields.length) {
    parts.push(el("div", { class: "legend" }, s.runs.map((r, i) => el("span", { style: `color:${COLOURS[i % COLOURS.length]}` }, `■ ${r.name}`))));
    for (const f of fields) { const c = chart(s.runs, f); if (c) parts.push(c); }
  }
  for (const r of s.runs) {
    const reasons = Object.entries(r.refusal_reasons || {});
    if (reasons.length) {
      parts.push(el("p", {}, `${r.name}: refusals by reason`),
        table(["reason", "count"], reasons.map(([k, v]) => el("tr", {}, el("td", { class: "reason" }, k), el("td", {}, fmt(v))))));
    }
  }
  return el("div", {}, parts);
}

function resourcesTable(resources) {
  const rows = Object.entries(resources).map(([rc, r]) => el("tr", { "data-rc": rc },
    el("td", {}, rc), el("td", {}, fmt(r.used)), el("td", {}, fmt(r.capacity)), el("td", {}, fmt(r.total)),
    el("td", {}, fmt(r.reserved)), el("td", {}, fmt(r.allocation_ratio)), el("td", {}, `${r.min_unit}–${fmt(r.max_unit)} /${r.step_size}`)));
  return table(["class", "used", "capacity", "total", "reserved", "ratio", "unit"], rows);
}

function treeNode(node) {
  const label = el("summary", {}, el("b", {}, node.name));
  if (node.zone !== undefined) label.append(el("span", { class: "badge" }, node.zone));
  if (node.disabled) label.append(el("span", { class: "badge off" }, "disabled"));
  if (node.traits && node.traits.length) label.append(el("span", { class: "badge" }, `${node.traits.length} traits`));
  return el("details", { class: "tree", open: "", "data-provider": node.name, "data-uuid": node.uuid }, label,
    Object.keys(node.resources).length ? resourcesTable(node.resources) : el("p", { class: "note" }, "no inventory"),
    node.children.map(treeNode));
}

function trees(t) {
  if (!t.trees.length) return el("p", { class: "note" }, "no resource providers");
  return el("div", {}, t.trees.map(treeNode));
}

async function refresh() {
  await Promise.all([
    draw("summary", "/api/summary", summary),
    draw("heatmap", "/api/heatmap", heatmap),
    draw("capacity", "/api/capacity", capacity),
    draw("decisions", "/api/decisions", decisions),
    draw("simulation", "/api/simulation", simulation),
    draw("trees", "/api/trees", trees),
  ]);
  const stamp = document.getElementById("updated");
  stamp.textContent = `updated ${new Date().toLocaleTimeString()}`;
  stamp.setAttribute("data-loaded", "1");
}

document.getElementById("refresh").addEventListener("click", refresh);
refresh();
setInterval(refresh, 15000);
