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

const COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04"];

// The simulator's results file (allotment.simulation/1, README "Fleet simulator"): one column per run.
// [summary key, label, how to show it]: "n" a count, "frac" a fraction shown as a percentage,
// "pct" already a percentage, "ms" / "s" / "rate" a measured figure.
const SIM_SUMMARY = [
  ["arrivals", "arrivals", "n"], ["placed", "placed", "n"], ["refused", "refused", "n"],
  ["refusal_pct", "refused (% of arrivals)", "pct"],
  ["mean_util_vcpu", "VCPU used, mean", "frac"], ["peak_util_vcpu", "VCPU used, peak", "frac"],
  ["final_util_vcpu", "VCPU used, at the end", "frac"],
  ["mean_util_memory", "MEMORY_MB used, mean", "frac"], ["final_util_memory", "MEMORY_MB used, at the end", "frac"],
  ["mean_stranded_vcpu_pct", "stranded VCPU, mean", "pct"], ["final_stranded_vcpu_pct", "stranded VCPU, at the end", "pct"],
  ["mean_stranded_memory_pct", "stranded MEMORY_MB, mean", "pct"],
  ["final_stranded_memory_pct", "stranded MEMORY_MB, at the end", "pct"],
  ["departures", "departures", "n"], ["alive_at_end", "instances at the end", "n"],
  ["host_failures", "hosts failed", "n"], ["instances_lost", "instances lost", "n"], ["evacuated", "evacuated", "n"],
  ["evacuation_refused", "evacuations refused", "n"], ["host_maintenances", "hosts in maintenance", "n"],
  ["final_hosts_empty", "empty hosts at the end", "n"],
  ["placements_per_s", "placements per wall second", "rate"], ["schedule_p50_ms", "decision p50 (ms)", "ms"],
  ["schedule_p99_ms", "decision p99 (ms)", "ms"], ["setup_s", "hosts created in (s)", "s"], ["wall_s", "wall time (s)", "s"],
];
// The panels of the simulator's PNG (allotment/simulator/plots.py PANELS): [sample key, title, scale].
const SIM_PANELS = [
  ["util_vcpu", "VCPU used (% of hosts up)", 100],
  ["util_memory", "MEMORY_MB used (% of hosts up)", 100],
  ["stranded_vcpu_pct", "stranded VCPU (% of capacity in service)", 1],
  ["stranded_memory_pct", "stranded MEMORY_MB (% of capacity in service)", 1],
  ["refused", "refusals (cumulative)", 1],
  ["hosts_empty", "empty hosts in service", 1],
];

function simValue(v, kind) {
  if (v === null || v === undefined) return "–";
  if (kind === "frac") return `${(v * 100).toFixed(1)}%`;
  if (kind === "pct") return `${Number(v).toFixed(1)}%`;
  if (kind === "n") return fmt(v);
  return Number(v).toLocaleString("en", { maximumFractionDigits: 1 });
}

function svgNode(tag, attrs, text) {
  const n = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
  if (text !== undefined) n.textContent = text;
  return n;
}

function simChart(doc, [key, title, scale], hours) {
  const W = 380, H = 180, L = 44, R = 10, T = 22, B = 26;
  const unit = hours ? 3600 : 1;
  const series = doc.runs.map((r) => r.samples.map((s) => [s.t / unit, s[key] * scale]));
  const pts = series.flat();
  if (!pts.length) return null;
  const x1 = Math.max(...pts.map((p) => p[0])) || 1, y1 = Math.max(...pts.map((p) => p[1])) || 1;
  const sx = (x) => L + (x / x1) * (W - L - R);
  const sy = (y) => T + (1 - y / y1) * (H - T - B);
  const svg = svgNode("svg", { class: "chart", width: W, height: H, "data-field": key });
  svg.append(svgNode("text", { x: L, y: 14, "font-size": 12, "font-weight": 600 }, title));
  for (const ev of doc.events || []) {  // failures red, maintenance grey, while they last
    const colour = ev.kind === "failure" ? "#dc2626" : "#6b7280";
    const a = sx(Math.min(ev.at / unit, x1));
    if (ev.duration) {
      const b = sx(Math.min((ev.at + ev.duration) / unit, x1));
      svg.append(svgNode("rect", { x: a, y: T, width: Math.max(b - a, 1), height: H - T - B, fill: colour,
        "fill-opacity": 0.08, "data-event": ev.kind }));
    } else {
      svg.append(svgNode("line", { x1: a, y1: T, x2: a, y2: H - B, stroke: colour, "stroke-dasharray": "4 3",
        "data-event": ev.kind }));
    }
  }
  svg.append(svgNode("line", { x1: L, y1: sy(0), x2: W - R, y2: sy(0), stroke: "#999" }));
  svg.append(svgNode("line", { x1: L, y1: T, x2: L, y2: sy(0), stroke: "#999" }));
  svg.append(svgNode("text", { x: L - 4, y: T + 4, "font-size": 10, "text-anchor": "end", class: "ymax" }, fmt(y1)));
  svg.append(svgNode("text", { x: L - 4, y: sy(0), "font-size": 10, "text-anchor": "end" }, "0"));
  svg.append(svgNode("text", { x: W - R, y: H - 6, "font-size": 10, "text-anchor": "end" },
    `${fmt(x1)} ${hours ? "h" : "s"} simulated`));
  series.forEach((run, i) => {
    svg.append(svgNode("polyline", { fill: "none", stroke: COLOURS[i % COLOURS.length], "stroke-width": 1.5,
      "data-run": doc.runs[i].label, points: run.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ") }));
  });
  return svg;
}

function simulation(s) {
  if (!s.runs.length) return el("p", { class: "note" }, s.note || "no simulation runs");
  const { fleet, workload } = s;
  const parts = [el("p", { "data-testid": "simulation-about" },
    el("b", {}, `${fmt(fleet.hosts)} hosts`), ` of ${fmt(fleet.vcpus)} VCPU, ${fmt(fleet.memory_mb)} MB, `,
    `${fmt(fleet.disk_gb)} GB; ${fmt(workload.arrivals)} arrivals (${workload.kind}`,
    workload.lifetime ? `, lifetime ${workload.lifetime}` : "", workload.trace ? `, ${workload.trace}` : "",
    `); seed ${s.seed}; `,
    (s.events || []).map((e) => `${e.kind} of ${e.count} hosts at ${fmt(e.at)} s${e.duration ? ` for ${fmt(e.duration)} s` : ""}; `),
    `written ${s.created}${s.commit ? ` at ${s.commit.slice(0, 10)}` : ""}`)];
  // The weights that differ between the runs (all of them if only one run), the whole set on hover.
  const weightKeys = [...new Set(s.runs.flatMap((r) => Object.keys(r.config.weights || {})))]
    .filter((k) => s.runs.length === 1 || new Set(s.runs.map((r) => (r.config.weights || {})[k])).size > 1);
  const weightText = (w, keys) => keys.map((k) => `${k.replace("_weight_multiplier", "")} ${w[k]}`).join(", ");
  const configRow = el("tr", { "data-metric": "config" }, el("td", {}, "configuration"),
    s.runs.map((r) => el("td", { class: "config", "data-run": r.label,
      title: weightText(r.config.weights || {}, Object.keys(r.config.weights || {})) },
    `${weightText(r.config.weights || {}, weightKeys)}${weightKeys.length ? "; " : ""}subset ${r.config.host_subset_size}`)));
  parts.push(el("div", { class: "legend" }, s.runs.map((r, i) => el("span", { style: `color:${COLOURS[i % COLOURS.length]}` }, `■ ${r.label}`)),
    (s.events || []).length ? el("span", { class: "note" }, "shaded: host failures (red), maintenance (grey)") : ""));
  const longest = Math.max(0, ...s.runs.map((r) => (r.samples.length ? r.samples[r.samples.length - 1].t : 0)));
  const charts = SIM_PANELS.map((p) => simChart(s, p, longest > 3 * 3600)).filter((c) => c);
  parts.push(el("div", { class: "charts" }, charts));
  const rows = SIM_SUMMARY.map(([key, label, kind]) => el("tr", { "data-metric": key }, el("td", {}, label),
    s.runs.map((r) => el("td", { "data-run": r.label, "data-value": String(r.summary[key]) }, simValue(r.summary[key], kind)))));
  parts.push(table(["", ...s.runs.map((r) => r.label)], [configRow, ...rows], { "data-testid": "simulation-summary" }));
  const verified = s.runs.filter((r) => r.usage_mismatches !== undefined);
  if (verified.length) {
    const bad = verified.filter((r) => r.usage_mismatches.length);
    parts.push(bad.length
      ? el("p", { class: "error", "data-testid": "simulation-verify" }, bad.map((r) => `${r.label}: ${r.usage_mismatches.length} hosts whose placement usages differ from the simulator's`).join("; "))
      : el("p", { class: "note", "data-testid": "simulation-verify" }, "placement's usages checked against the simulator's ledger: equal on every host"));
  }
  const reasons = new Map();
  for (const r of s.runs) for (const [k, v] of Object.entries(r.refusals)) reasons.set(k, (reasons.get(k) || 0) + v);
  if (reasons.size) {
    const sorted = [...reasons.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k);
    parts.push(el("h3", {}, "Refusals by reason (NoValidHost)"),
      table(["reason", ...s.runs.map((r) => r.label)], sorted.map((k) => el("tr", { "data-reason": k },
        el("td", { class: "reason" }, k), s.runs.map((r) => el("td", { "data-run": r.label }, fmt(r.refusals[k] || 0))))),
      { "data-testid": "simulation-refusals" }));
  } else {
    parts.push(el("p", { class: "note", "data-testid": "simulation-refusals" }, "no arrival was refused"));
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
