"""The page at ``/``: type sentences, see each one's label, its score and a bar per class.

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
  .track { background: #eee; height: .8rem; border-radius: .4rem; overflow: hidden; }
  .bar { background: #3b7ddd; height: 100%; }
  .bar.top { background: #1f9d55; }
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

async function loadModels() {
  const resp = await fetch("/v1/models", { headers });
  const data = await resp.json();
  if (!resp.ok) { showError(data.error || resp.statusText); return; }
  for (const m of data.models) {
    const opt = document.createElement("option");
    opt.value = m.name;
    opt.textContent = m.name + " (" + m.labels.join(" / ") + ")";
    $("model").appendChild(opt);
  }
  $("model").value = data.default;
}

function render(texts, data) {
  const box = $("results");
  box.replaceChildren();
  data.results.forEach((res, i) => {
    const div = document.createElement("div");
    div.className = "result";
    const text = document.createElement("div");
    text.className = "text";
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = res.label;
    const score = document.createElement("span");
    score.className = "score";
    score.dataset.score = String(res.score);
    score.textContent = " " + (100 * res.score).toFixed(1) + "%";
    text.append(label, score, " \\u2014 ", texts[i]);
    div.appendChild(text);
    for (const name of data.labels) {
      const p = res.probabilities[name];
      const row = document.createElement("div");
      row.className = "bar-row";
      const cls = document.createElement("span");
      cls.textContent = name;
      const track = document.createElement("div");
      track.className = "track";
      const bar = document.createElement("div");
      bar.className = "bar" + (name === res.label ? " top" : "");
      bar.dataset.label = name;
      bar.dataset.prob = String(p);
      bar.style.width = (100 * p).toFixed(1) + "%";
      track.appendChild(bar);
      const pct = document.createElement("span");
      pct.textContent = (100 * p).toFixed(1) + "%";
      row.append(cls, track, pct);
      div.appendChild(row);
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
