"""The page at ``/``: type sentences, see each one's result in its model's shape.

- single_label: the label, its score and a bar per class (the top one highlighted);
- multi_label: the decided labels, and a bar per label showing its own probability with a
  marker at its threshold (labels at or above it highlighted);
- regression: the value, named after the model's target.

Plain HTML and JavaScript (no build step, nothing fetched from elsewhere); results are
written with ``textContent`` so user text never becomes markup.
"""

from __future__ import annotations

__all__ = ["PAGE_HTML"]

PAGE_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>phalanx classifier</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto;
         padding: 0 1rem; color: #1d1d1f; }
  h1 { font-size: 1.4rem; }
  textarea { width: 100%; min-height: 7rem; font: inherit; padding: .5rem;
             box-sizing: border-box; }
  .row { display: flex; gap: .75rem; align-items: center; margin: .5rem 0 1rem; }
  button { font: inherit; padding: .4rem 1.2rem; cursor: pointer; }
  .result { border-top: 1px solid #ddd; padding: .6rem 0; }
  .text { margin-bottom: .3rem; }
  .label { font-weight: 600; }
  .score { color: #666; }
  .bar-row { display: grid; grid-template-columns: 8rem 1fr 4rem; gap: .5rem;
             align-items: center; font-size: .9rem; }
  .track { background: #eee; height: .8rem; border-radius: .4rem; overflow: hidden;
           position: relative; }
  .bar { background: #3b7ddd; height: 100%; }
  .bar.top, .bar.on { background: #1f9d55; }
  .threshold { position: absolute; top: 0; bottom: 0; width: 2px; margin-left: -1px;
               background: #1d1d1f; }
  .bar-row.on { font-weight: 600; }
  .value { font-weight: 600; font-size: 1.1rem; }
  #error { color: #b00020; white-space: pre-wrap; }
  #status { color: #666; font-size: .9rem; }
</style>
</head>
<body>
<h1>phalanx classifier</h1>
<label for="texts">One sentence per line:</label>
<textarea id="texts" placeholder="a charming journey&#10;it's slow -- very, very slow."></textarea>
<div class="row">
  <label for="model">Model:</label>
  <select id="model"></select>
  <button id="classify" type="button">Classify</button>
  <span id="status"></span>
</div>
<div id="error" role="alert"></div>
<div id="results"></div>
<script>
"use strict";
const apiKey = new URLSearchParams(location.search).get("api_key");
const headers = { "Content-Type": "application/json" };
if (apiKey) headers["X-API-Key"] = apiKey;
const $ = (id) => document.getElementById(id);

function showError(message) { $("error").textContent = message || ""; }

const models = {};

function modelOption(m) {
  if (m.problem_type === "regression") return m.name + " (regression: " + m.target + ")";
  const kind = m.problem_type === "multi_label" ? "multi-label: " : "";
  return m.name + " (" + kind + m.labels.join(" / ") + ")";
}

async function loadModels() {
  const resp = await fetch("/v1/models", { headers });
  const data = await resp.json();
  if (!resp.ok) { showError(data.error || resp.statusText); return; }
  for (const m of data.models) {
    models[m.name] = m;
    const opt = document.createElement("option");
    opt.value = m.name;
    opt.textContent = modelOption(m);
    $("model").appendChild(opt);
  }
  $("model").value = data.default;
}

const pct = (p) => (100 * p).toFixed(1) + "%";

function barRow(name, p, cls, threshold) {
  const row = document.createElement("div");
  row.className = "bar-row" + (cls === "on" ? " on" : "");
  const label = document.createElement("span");
  label.textContent = name;
  const track = document.createElement("div");
  track.className = "track";
  const bar = document.createElement("div");
  bar.className = "bar" + (cls ? " " + cls : "");
  bar.dataset.label = name;
  bar.dataset.prob = String(p);
  bar.style.width = pct(p);
  track.appendChild(bar);
  if (threshold !== undefined) {
    bar.dataset.threshold = String(threshold);
    const mark = document.createElement("div");
    mark.className = "threshold";
    mark.dataset.threshold = String(threshold);
    mark.title = "threshold " + pct(threshold);
    mark.style.left = pct(threshold);
    track.appendChild(mark);
  }
  const num = document.createElement("span");
  num.textContent = pct(p);
  row.append(label, track, num);
  return row;
}

function headline(res, data) {
  if (data.problem_type === "regression") {
    const value = document.createElement("span");
    value.className = "value";
    value.dataset.value = String(res.value);
    value.textContent = Number(res.value).toPrecision(4);
    const target = document.createElement("span");
    target.className = "target score";
    target.textContent = data.target || data.labels[0];
    return [target, " ", value];
  }
  if (data.problem_type === "multi_label") {
    const labels = document.createElement("span");
    labels.className = "labels label";
    labels.dataset.labels = JSON.stringify(res.labels);
    labels.textContent = res.labels.length ? res.labels.join(", ") : "(no label)";
    return [labels];
  }
  const label = document.createElement("span");
  label.className = "label";
  label.textContent = res.label;
  const score = document.createElement("span");
  score.className = "score";
  score.dataset.score = String(res.score);
  score.textContent = " " + pct(res.score);
  return [label, score];
}

function render(texts, data) {
  const box = $("results");
  box.replaceChildren();
  const info = models[data.model] || {};
  const thresholds = data.thresholds || info.thresholds || [];
  data.results.forEach((res, i) => {
    const div = document.createElement("div");
    div.className = "result";
    div.dataset.problem = data.problem_type || "single_label";
    const text = document.createElement("div");
    text.className = "text";
    text.append(...headline(res, data), " \\u2014 ", texts[i]);
    div.appendChild(text);
    if (data.problem_type !== "regression") {
      data.labels.forEach((name, j) => {
        const p = res.probabilities[name];
        if (data.problem_type === "multi_label") {
          const t = thresholds[j] === undefined ? 0.5 : thresholds[j];
          div.appendChild(barRow(name, p, p >= t ? "on" : "", t));
        } else {
          div.appendChild(barRow(name, p, name === res.label ? "top" : ""));
        }
      });
    }
    box.appendChild(div);
  });
}

async function classify() {
  showError("");
  const texts = $("texts").value.split("\\n").map((t) => t.trim()).filter((t) => t);
  if (!texts.length) { showError("Type at least one sentence."); return; }
  $("status").textContent = "classifying\\u2026";
  try {
    const resp = await fetch("/v1/classify", {
      method: "POST", headers, body: JSON.stringify({ texts, model: $("model").value || null }),
    });
    const data = await resp.json();
    if (!resp.ok) { showError(data.error || resp.statusText); return; }
    render(texts, data);
  } catch (err) {
    showError(String(err));
  } finally {
    $("status").textContent = "";
  }
}

$("classify").addEventListener("click", classify);
$("texts").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) classify();
});
loadModels().catch((err) => showError(String(err)));
</script>
</body>
</html>
"""
