#include "sidecar/api/status_page.h"

namespace rs::sidecar {

// Values are inserted with textContent or setAttribute only, so nothing from a query, an alert or
// a label can inject markup. The chart is inline SVG drawn from /api/v1/status: no external assets.
const std::string& status_page_html() {
  static const std::string kPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rollback-sidecar</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
  header { padding: 16px 24px; background: #1d2330; color: #fff; display: flex; gap: 16px; align-items: center; }
  header h1 { font-size: 18px; margin: 0; font-weight: 600; }
  main { padding: 16px 24px; max-width: 1200px; }
  .badge { padding: 4px 10px; border-radius: 12px; font-weight: 600; text-transform: uppercase; font-size: 12px; }
  .healthy, .ok { background: #d6f5dd; color: #14632b; }
  .pending { background: #fff1c2; color: #7a5800; }
  .firing, .rolling_back, .rollback_failed { background: #ffd6d6; color: #8a1010; }
  .rolled_back { background: #dbe7ff; color: #1c3f94; }
  .nodata, .insufficient { background: #e4e4e4; color: #444; }
  #freeze { display: none; background: #fff1c2; border: 1px solid #e0c060; padding: 8px 12px; margin-bottom: 12px; }
  table { border-collapse: collapse; width: 100%; background: #fff; margin-bottom: 16px; }
  th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e3e6eb; vertical-align: top; }
  th { background: #eef0f4; font-weight: 600; }
  td.num { font-variant-numeric: tabular-nums; }
  code { font-size: 12px; word-break: break-all; }
  section { background: #fff; padding: 12px 16px; margin-bottom: 16px; border: 1px solid #e3e6eb; }
  #error { color: #8a1010; }
  .muted { color: #667; }
  svg.chart { display: block; background: #fafbfc; border: 1px solid #e3e6eb; }
  svg.chart .band-pending { fill: #fff1c2; } svg.chart .band-firing { fill: #ffd6d6; }
  svg.chart .band-insufficient, svg.chart .band-nodata { fill: #ececec; }
  svg.chart .value { fill: none; stroke: #1d2330; stroke-width: 1.5; }
  svg.chart .baseline { fill: none; stroke: #3a7bd5; stroke-width: 1; }
  svg.chart .interval { fill: none; stroke: #8fa3bf; stroke-width: 1; stroke-dasharray: 1 2; }
  svg.chart .threshold { stroke: #c0392b; stroke-width: 1; stroke-dasharray: 4 3; }
  svg.chart .decision { stroke: #8a1010; stroke-width: 2; }
</style>
</head>
<body>
<header>
  <h1>rollback-sidecar · <span id="deployment">…</span></h1>
  <span id="state" class="badge">loading</span>
  <span id="meta" class="muted"></span>
</header>
<main>
  <div id="freeze"></div>
  <p id="error"></p>
  <h2>Rules</h2>
  <table id="rules">
    <thead><tr><th>rule</th><th>value</th><th>threshold</th><th>for</th><th>state</th><th>since</th><th>recent</th><th>query</th></tr></thead>
    <tbody></tbody>
  </table>
  <h2>Last decision</h2>
  <section id="decision"><span class="muted">none yet</span></section>
  <p class="muted">Refreshes every 2 s from <a href="api/v1/status">/api/v1/status</a> · <a href="metrics">/metrics</a></p>
</main>
<noscript>This page needs JavaScript; the same data is at /api/v1/status.</noscript>
<script>
"use strict";
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function fmt(v) { return v === null || v === undefined ? "–" : (typeof v === "number" ? +v.toPrecision(6) : v); }
const SVG_NS = "http://www.w3.org/2000/svg";
function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const k in attrs) e.setAttribute(k, String(attrs[k]));
  return e;
}
function asNumber(v) {
  if (typeof v === "number") return v;
  return v === "+Inf" ? Infinity : v === "-Inf" ? -Infinity : null;
}
// The rule's recent values against its threshold (and the baseline's value, or a sequential
// test's interval), with pending/firing/insufficient moments as bands and the decision as a line.
function chart(r, decision) {
  const W = 240, H = 48, P = 3;
  const svg = svgEl("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H, class: "chart", role: "img"});
  const h = r.history;
  const title = svgEl("title", {});
  svg.append(title);
  if (!h || !h.t || h.t.length === 0) { title.textContent = "no evaluations yet"; return svg; }
  const n = h.t.length, t0 = h.t[0], t1 = h.t[n - 1];
  const step = n > 1 ? (t1 - t0) / (n - 1) : 1, span = Math.max(t1 - t0, 1e-9);
  const series = {value: h.value.map(asNumber), baseline: h.baseline.map(asNumber), low: h.low.map(asNumber),
                  high: h.high.map(asNumber)};
  const finite = [r.threshold];
  for (const k in series) for (const v of series[k]) if (v !== null && isFinite(v)) finite.push(v);
  let lo = Math.min(...finite), hi = Math.max(...finite);
  if (hi - lo < 1e-12) { hi += Math.abs(hi) * 0.1 + 1e-6; lo -= Math.abs(lo) * 0.1 + 1e-6; }
  const x = t => n > 1 ? P + (t - t0) / span * (W - 2 * P) : W / 2;
  const y = v => { const c = Math.min(Math.max(v, lo), hi); return H - P - (c - lo) / (hi - lo) * (H - 2 * P); };
  const bandW = Math.max((W - 2 * P) / Math.max(n - 1, 1), 1);
  for (let i = 0; i < n; ++i) {
    const st = h.state[i];
    if (st === "pending" || st === "firing" || st === "insufficient" || st === "nodata") {
      svg.append(svgEl("rect", {class: "band-" + st, x: (x(h.t[i]) - bandW / 2).toFixed(1), y: 0,
                                width: bandW.toFixed(1), height: H}));
    }
  }
  svg.append(svgEl("line", {class: "threshold", x1: P, x2: W - P, y1: y(r.threshold).toFixed(1),
                            y2: y(r.threshold).toFixed(1)}));
  for (const [key, cls] of [["low", "interval"], ["high", "interval"], ["baseline", "baseline"], ["value", "value"]]) {
    let points = [];
    const flush = () => { if (points.length) svg.append(svgEl("polyline", {class: cls, "data-series": key, points: points.join(" ")})); points = []; };
    for (let i = 0; i < n; ++i) {
      const v = series[key][i];
      if (v === null) { flush(); continue; }
      points.push(x(h.t[i]).toFixed(1) + "," + y(v).toFixed(1));
    }
    flush();
  }
  if (decision && decision.rule === r.name && decision.decided_at) {
    const td = Date.parse(decision.decided_at) / 1000;
    if (td >= t0 - step && td <= t1 + step) {
      svg.append(svgEl("line", {class: "decision", x1: x(td).toFixed(1), x2: x(td).toFixed(1), y1: 0, y2: H}));
    }
  }
  const last = series.value[n - 1];
  title.textContent = r.name + ": last " + n + " evaluations, latest " + (last === null ? "no data" : fmt(last)) +
    " against " + (r.comparison === "above" ? "> " : "< ") + fmt(r.threshold);
  return svg;
}
function renderRules(rules, decision) {
  const body = document.querySelector("#rules tbody");
  body.replaceChildren();
  for (const r of rules) {
    const tr = el("tr");
    tr.dataset.rule = r.name;
    tr.append(el("td", r.name), el("td", r.value === null ? "no data" : fmt(r.value), "num"),
              el("td", (r.comparison === "above" ? "> " : "< ") + fmt(r.threshold), "num"), el("td", r.for));
    const st = el("td"); st.append(el("span", r.state, "badge " + r.state));
    // A judge's own words: the test's ratio, interval and e-value; the baseline comparison; ...
    if (r.evidence && r.evidence.reason) st.append(el("div", r.evidence.reason, "muted evidence"));
    tr.append(st);
    tr.append(el("td", r.firing_since || r.pending_since || (r.problem ? r.problem : "")));
    const c = el("td"); c.append(chart(r, decision)); tr.append(c);
    const q = el("td");
    if (r.test) {
      for (const k in r.test.queries) { q.append(el("div", k, "muted")); q.append(el("code", r.test.queries[k])); }
    } else {
      q.append(el("code", r.query));
    }
    tr.append(q);
    body.append(tr);
  }
}
function renderDecision(d) {
  const box = document.getElementById("decision");
  box.replaceChildren();
  if (!d) { box.append(el("span", "none yet", "muted")); return; }
  const t = el("table");
  const rows = [["decision", "#" + d.id + " " + d.kind + (d.dry_run ? " (dry run)" : "")], ["trigger", d.trigger],
    ["rule / alert", d.rule], ["severity", d.severity],
    ["value", d.trigger === "rule" ? fmt(d.value) + " " + d.comparison + " " + fmt(d.threshold) : null],
    ["reason", d.reason], ["first breach", d.first_breach], ["decided at", d.decided_at],
    ["result", d.result || "running"], ["completed at", d.completed_at],
    ["duration", d.duration_seconds === null ? "–" : (d.duration_seconds * 1000).toFixed(1) + " ms"]];
  for (const a of d.actuators || []) rows.push(["actuator", a.actuator + ": " + a.result + " (" + a.attempts + " attempt(s)) " + a.detail]);
  if (d.query) rows.push(["query", d.query]);
  for (const [k, v] of rows) {
    if (v === null || v === undefined || v === "") continue;  // not part of this kind of decision
    const tr = el("tr"); tr.dataset.field = k; tr.append(el("th", k), el("td", fmt(v))); t.append(tr);
  }
  box.append(t);
}
async function refresh() {
  try {
    const res = await fetch("api/v1/status", {cache: "no-store"});
    if (!res.ok) throw new Error("HTTP " + res.status);
    const s = await res.json();
    document.getElementById("deployment").textContent = s.deployment.name;
    const state = document.getElementById("state");
    state.textContent = s.state.replace("_", " ");
    state.className = "badge " + s.state;
    document.getElementById("meta").textContent = "stage " + s.deployment.stage + " · " + s.deployment.strategy +
      (s.dry_run ? " · DRY RUN" : "") + " · last evaluation " + (s.last_evaluation || "–");
    const f = document.getElementById("freeze");
    f.style.display = s.freeze && s.freeze.frozen ? "block" : "none";
    if (s.freeze && s.freeze.frozen) f.textContent = "Frozen since " + s.freeze.since + " by " + s.freeze.actor + ": " + s.freeze.reason;
    renderRules(s.rules, s.last_decision);
    renderDecision(s.last_decision);
    document.getElementById("error").textContent = "";
    document.body.dataset.loaded = "true";
  } catch (e) {
    document.getElementById("error").textContent = "cannot load status: " + e.message;
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
)HTML";
  return kPage;
}

}  // namespace rs::sidecar
