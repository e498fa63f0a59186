/**
 * The live page: one self-contained HTML document (style and script inline, charts drawn as SVG by the script),
 * shipped as a string so tsc puts it in dist/ with no copy step and no network is needed to show it. The
 * script polls GET /api/run (every 2 s while the run goes on, every 10 s once it ended) and redraws.
 * Class colours are those of val_preview.png (plot/preview.ts classColor): label k is palette[(k + 1) % 7].
 */
export const livePageHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>voxring run</title>
<style>
:root { --fg: #1d232b; --muted: #5f6b7a; --line: #e3e7ec; --bg: #f4f6f8; --card: #fff; --accent: #1f77b4; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: var(--fg); background: var(--bg); }
main { max-width: 1360px; margin: 0 auto; padding: 16px 20px 32px; }
header { display: flex; align-items: baseline; gap: 14px; flex-wrap: wrap; margin-bottom: 12px; }
h1 { font-size: 22px; margin: 0; font-weight: 650; }
h2 { font-size: 15px; margin: 0 0 8px; font-weight: 600; }
h2 .note { font-weight: 400; color: var(--muted); font-size: 12.5px; margin-left: 6px; }
.sub { color: var(--muted); font-size: 12.5px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 999px; font-size: 12.5px; font-weight: 650;
  letter-spacing: .02em; text-transform: uppercase; color: #fff; background: #7a8594; }
.badge.running { background: #1f8a4c; } .badge.validating { background: #7b4fc9; }
.badge.completed { background: #1f77b4; } .badge.stopped { background: #b7791f; } .badge.failed { background: #c53030; }
.badge.interrupted { background: #5a6270; }
.badge.running::before, .badge.validating::before { content: ""; display: inline-block; width: 7px; height: 7px;
  border-radius: 50%; background: #fff; margin-right: 6px; vertical-align: 1px; animation: pulse 1.6s infinite; }
@keyframes pulse { 50% { opacity: .25; } }
.conn { font-size: 12.5px; color: #b7791f; }
.tiles { display: grid; grid-template-columns: repeat(8, minmax(0, 1fr)); gap: 10px; margin-bottom: 12px; }
@media (max-width: 1100px) { .tiles { grid-template-columns: repeat(4, minmax(0, 1fr)); } }
.tile { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 9px 12px; }
.tile .k { color: var(--muted); font-size: 12px; }
.tile .v { font-size: 19px; font-weight: 600; font-variant-numeric: tabular-nums; white-space: nowrap; }
.tile .d { color: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; }
.bar { height: 5px; background: var(--line); border-radius: 3px; margin-top: 5px; overflow: hidden; }
.bar > div { height: 100%; background: var(--accent); width: 0; transition: width .4s; }
.row { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; margin-bottom: 12px; }
@media (max-width: 900px) { .row { grid-template-columns: 1fr; } }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; min-width: 0; }
svg.plot { width: 100%; height: auto; display: block; }
svg.plot text { font-size: 11px; fill: #4a5563; }
svg.plot .axis-label { font-size: 12px; fill: #2d3642; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12.5px; margin-top: 4px; }
.legend span { white-space: nowrap; }
.legend i { display: inline-block; width: 16px; height: 3px; vertical-align: 3px; margin-right: 5px; border-radius: 2px; }
.legend i.dash { background: none !important; border-top: 2px dashed #444; height: 0; }
.readout { font-size: 12px; color: var(--muted); min-height: 17px; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 500; font-size: 12.5px; }
td.n, th.n { text-align: right; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
.empty { color: var(--muted); font-style: italic; padding: 18px 0; }
.preview img { width: min(100%, 600px); image-rendering: pixelated; border-radius: 4px; background: #000; display: block; }
.stale { color: #c53030; }
ul.restarts { margin: 6px 0 0; padding-left: 18px; font-size: 12.5px; }
details summary { cursor: pointer; font-weight: 600; }
pre { font: 12px/1.45 ui-monospace, "DejaVu Sans Mono", monospace; background: #f7f8fa; padding: 10px; border-radius: 6px;
  overflow: auto; max-height: 480px; }
.muted { color: var(--muted); }
</style>
</head>
<body>
<main id="app" data-status="" data-step="">
<header>
  <h1 id="name">voxring run</h1>
  <span id="badge" class="badge">loading</span>
  <span id="reason" class="sub"></span>
  <span id="source" class="sub"></span>
  <span id="conn" class="conn"></span>
</header>
<section class="tiles">
  <div class="tile"><div class="k">Epoch</div><div class="v" id="epoch">-</div><div class="d" id="epochNote">&nbsp;</div></div>
  <div class="tile"><div class="k">Global step</div><div class="v" id="step">-</div>
    <div class="d" id="stepNote">&nbsp;</div><div class="bar"><div id="progress"></div></div></div>
  <div class="tile"><div class="k">Elapsed</div><div class="v" id="elapsed">-</div><div class="d" id="eta">&nbsp;</div></div>
  <div class="tile"><div class="k">Training loss</div><div class="v" id="loss">-</div><div class="d" id="lossNote">&nbsp;</div></div>
  <div class="tile"><div class="k">Best mean Dice</div><div class="v" id="best">-</div><div class="d" id="bestNote">&nbsp;</div></div>
  <div class="tile"><div class="k">Throughput</div><div class="v" id="throughput">-</div><div class="d" id="stepTime">&nbsp;</div></div>
  <div class="tile"><div class="k">Workers up</div><div class="v" id="workersUp">-</div><div class="d" id="backend">&nbsp;</div></div>
  <div class="tile"><div class="k">Restarts</div><div class="v" id="restarts">-</div><div class="d" id="restartNote">&nbsp;</div></div>
</section>
<section class="row">
  <div class="card"><h2>Training loss <span class="note" id="lossChartNote"></span></h2>
    <div id="lossChart"></div><div class="legend" id="lossLegend"></div><div class="readout" id="lossReadout"></div></div>
  <div class="card"><h2>Validation Dice <span class="note" id="diceChartNote"></span></h2>
    <div id="diceChart"></div><div class="legend" id="diceLegend"></div><div class="readout" id="diceReadout"></div></div>
</section>
<section class="row">
  <div class="card"><h2>Latest validation <span class="note" id="valNote"></span></h2>
    <table id="valTable"></table>
    <div class="preview" style="margin-top:10px"><h2>Preview <span class="note">mid-slice per validation case; fill: prediction, outline: ground truth</span></h2>
    <div id="preview"><div class="empty">no validation yet</div></div></div></div>
  <div class="card"><h2>Workers <span class="note" id="workersNote"></span></h2>
    <table id="workers"></table>
    <div id="restartList"></div>
    <div id="checkpoints" class="sub" style="margin-top:10px"></div>
    <div id="exported" class="sub"></div></div>
</section>
<section class="card"><details id="configBox"><summary>Configuration <span class="note muted" id="configNote"></span></summary>
  <pre id="config">-</pre></details></section>
</main>
<script>
(function () {
  "use strict";
  var palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"];
  var finalStates = { completed: 1, stopped: 1, failed: 1, interrupted: 1 };
  var state = null, failures = 0, previewSrc = null, configShown = null, timer = null;
  var $ = function (id) { return document.getElementById(id); };
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function set(id, text) { var el = $(id); if (el.textContent !== text) el.textContent = text; }
  function num(v, digits) { return v === null || v === undefined || !isFinite(v) ? "-" : Number(v).toFixed(digits); }
  function count(v) {
    if (v === null || v === undefined || !isFinite(v)) return "-";
    var a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(2) + "G";
    if (a >= 1e6) return (v / 1e6).toFixed(2) + "M";
    if (a >= 1e3) return (v / 1e3).toFixed(1) + "k";
    return String(Math.round(v));
  }
  function duration(s) {
    if (s === null || s === undefined || !isFinite(s)) return "-";
    s = Math.max(0, Math.round(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    if (h > 0) return h + "h " + (m < 10 ? "0" : "") + m + "m";
    if (m > 0) return m + "m " + (r < 10 ? "0" : "") + r + "s";
    return r + "s";
  }
  function classColor(i) { return palette[(i + 2) % palette.length]; }
  // Tick labels with as many decimals as the tick spacing needs, the same for every tick of an axis.
  function tickFormat(spacing) {
    if (spacing >= 1000) return function (v) { return v === 0 ? "0" : v >= 1e6 ? +(v / 1e6).toFixed(2) + "M" : +(v / 1e3).toFixed(1) + "k"; };
    var decimals = Math.max(0, Math.ceil(-Math.log10(spacing) - 1e-9));
    if (spacing * Math.pow(10, decimals) % 1 > 1e-6) decimals++;
    return function (v) { return v.toFixed(decimals); };
  }
  function niceTicks(lo, hi, n) {
    var span = hi - lo, raw = span / Math.max(1, n), mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var stepSize = [1, 2, 2.5, 5, 10].map(function (f) { return f * mag; }).find(function (s) { return s >= raw; }) || mag * 10;
    var out = [];
    for (var t = Math.ceil(lo / stepSize - 1e-9) * stepSize; t <= hi + stepSize * 1e-9; t += stepSize) out.push(Math.round(t / stepSize) * stepSize);
    return out;
  }
  // Debiased exponential moving average (as TensorBoard smooths), over 10 points or 2.5% of them.
  function ema(points) {
    if (points.length < 8) return null;
    var keep = 1 - 2 / (Math.max(10, points.length / 40) + 1), m = 0, weight = 0;
    return points.map(function (p) { m = keep * m + (1 - keep) * p[1]; weight = keep * weight + (1 - keep); return [p[0], m / weight]; });
  }

  // One line chart as SVG. opts: series [{label, color, points, width, opacity, dots}], yRange, xLabel, yLabel,
  // marks [{step, label, color, dash}], best {step, value, label}.
  function chart(holder, readout, opts) {
    var W = 620, H = 300, L = 58, R = 14, T = 14, B = 46;
    var all = [];
    opts.series.forEach(function (s) { s.points.forEach(function (p) { all.push(p); }); });
    if (all.length === 0) {
      holder.innerHTML = '<div class="empty">' + esc(opts.empty) + "</div>";
      holder.onmousemove = null;
      return;
    }
    var xs = all.map(function (p) { return p[0]; }), ys = all.map(function (p) { return p[1]; });
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs.concat((opts.marks || []).map(function (m) { return m.step; })));
    if (opts.xMax && opts.xMax > x1) x1 = opts.xMax;
    if (opts.xMin !== undefined && opts.xMin < x0) x0 = opts.xMin;
    if (x1 - x0 < 1) { x0 = Math.max(0, x0 - 1); x1 = x0 + 2; }
    var y0, y1;
    if (opts.yRange) { y0 = opts.yRange[0]; y1 = opts.yRange[1]; } else {
      y0 = Math.min.apply(null, ys); y1 = Math.max.apply(null, ys);
      var pad = (y1 - y0) * 0.08 || Math.abs(y1) * 0.05 || 0.05; y0 -= pad; y1 += pad;
    }
    var sx = function (x) { return L + ((x - x0) / (x1 - x0)) * (W - L - R); };
    var sy = function (y) { return T + (1 - (y - y0) / (y1 - y0)) * (H - T - B); };
    var out = [];
    out.push('<svg class="plot" viewBox="0 0 ' + W + " " + H + '" data-points="' + all.length + '" role="img" aria-label="' + esc(opts.yLabel) + ' against step">');
    var yt = niceTicks(y0, y1, 5), xt = niceTicks(x0, x1, 6);
    var yf = tickFormat(yt.length > 1 ? yt[1] - yt[0] : 1), xf = tickFormat(xt.length > 1 ? xt[1] - xt[0] : 1);
    yt.forEach(function (t) {
      var y = sy(t).toFixed(1);
      out.push('<line x1="' + L + '" x2="' + (W - R) + '" y1="' + y + '" y2="' + y + '" stroke="#edf0f3"/>');
      out.push('<text x="' + (L - 6) + '" y="' + y + '" dy="4" text-anchor="end">' + yf(t) + "</text>");
    });
    xt.forEach(function (t) {
      var x = sx(t).toFixed(1);
      out.push('<line x1="' + x + '" x2="' + x + '" y1="' + T + '" y2="' + (H - B) + '" stroke="#f3f5f7"/>');
      out.push('<text x="' + x + '" y="' + (H - B + 16) + '" text-anchor="middle">' + xf(t) + "</text>");
    });
    out.push('<rect x="' + L + '" y="' + T + '" width="' + (W - L - R) + '" height="' + (H - T - B) + '" fill="none" stroke="#c9d0d8"/>');
    out.push('<text class="axis-label" x="' + (L + (W - L - R) / 2) + '" y="' + (H - 8) + '" text-anchor="middle">' + esc(opts.xLabel) + "</text>");
    out.push('<text class="axis-label" transform="translate(14 ' + (T + (H - T - B) / 2) + ') rotate(-90)" text-anchor="middle">' + esc(opts.yLabel) + "</text>");
    (opts.marks || []).forEach(function (m) {
      var x = sx(m.step).toFixed(1);
      out.push('<line x1="' + x + '" x2="' + x + '" y1="' + T + '" y2="' + (H - B) + '" stroke="' + m.color + '" stroke-dasharray="' + (m.dash || "4 3") + '"/>');
      var right = Number(x) > W - 90;
      if (m.label) out.push('<text x="' + (Number(x) + (right ? -4 : 4)) + '" y="' + (T + 12) + '" text-anchor="' + (right ? "end" : "start") + '" style="fill:' + m.color + '">' + esc(m.label) + "</text>");
    });
    out.push('<clipPath id="clip' + holder.id + '"><rect x="' + L + '" y="' + T + '" width="' + (W - L - R) + '" height="' + (H - T - B) + '"/></clipPath>');
    opts.series.forEach(function (s) {
      if (s.points.length === 0) return;
      var d = s.points.map(function (p, i) { return (i ? "L" : "M") + sx(p[0]).toFixed(1) + " " + sy(p[1]).toFixed(1); }).join("");
      out.push('<path clip-path="url(#clip' + holder.id + ')" d="' + d + '" fill="none" stroke="' + s.color + '" stroke-width="' + (s.width || 1.6) + '" stroke-opacity="' + (s.opacity || 1) + '" stroke-linejoin="round"/>');
      if (s.dots || s.points.length === 1) {
        s.points.forEach(function (p) {
          out.push('<circle cx="' + sx(p[0]).toFixed(1) + '" cy="' + sy(p[1]).toFixed(1) + '" r="' + (s.width > 2 ? 3.2 : 2.6) + '" fill="' + s.color + '"><title>' + esc(s.label) + " " + p[1].toFixed(4) + " at step " + p[0] + "</title></circle>");
        });
      }
    });
    if (opts.best) {
      var bx = sx(opts.best.step), by = sy(opts.best.value);
      out.push('<path class="best-marker" d="M' + bx.toFixed(1) + " " + (by - 7).toFixed(1) + "l7 7l-7 7l-7 -7z" + '" fill="#f2c200" stroke="#1d232b" stroke-width="1.2"><title>' + esc(opts.best.label) + "</title></path>");
    }
    out.push('<line class="cursor" x1="0" x2="0" y1="' + T + '" y2="' + (H - B) + '" stroke="#8894a2" visibility="hidden"/>');
    out.push("</svg>");
    holder.innerHTML = out.join("");
    var svg = holder.firstChild, cursor = svg.querySelector(".cursor");
    holder.onmousemove = function (ev) {
      var box = svg.getBoundingClientRect(), x = x0 + ((ev.clientX - box.left) * (W / box.width) - L) / (W - L - R) * (x1 - x0);
      var parts = [], at = null;
      opts.series.forEach(function (s) {
        var best = null;
        s.points.forEach(function (p) { if (best === null || Math.abs(p[0] - x) < Math.abs(best[0] - x)) best = p; });
        if (best) { at = at === null ? best[0] : at; parts.push(s.label + " " + best[1].toFixed(4)); }
      });
      if (at === null) return;
      cursor.setAttribute("x1", sx(at)); cursor.setAttribute("x2", sx(at)); cursor.setAttribute("visibility", "visible");
      readout.textContent = "step " + Math.round(at) + ": " + parts.join(", ");
    };
    holder.onmouseleave = function () { cursor.setAttribute("visibility", "hidden"); readout.textContent = ""; };
  }
  function legend(id, items) {
    $(id).innerHTML = items.map(function (it) {
      return "<span><i" + (it.dash ? ' class="dash" style="border-color:' + it.color + '"' : ' style="background:' + it.color + '"') + "></i>" + esc(it.label) + "</span>";
    }).join("");
  }

  function render(s) {
    var app = $("app");
    app.dataset.status = s.status;
    app.dataset.step = String(s.step);
    document.title = s.name + " · " + s.status + " · voxring";
    set("name", s.name);
    var badge = $("badge");
    badge.className = "badge " + s.status;
    set("badge", s.status === "validating" ? "validating step " + s.validatingStep : s.status);
    set("reason", s.reason ? s.reason : "");
    set("source", (s.live ? "live from the coordinator" : "from events.jsonl (orchestrate view)") +
      (s.lastEventAt ? " · last event " + new Date(s.lastEventAt).toLocaleTimeString() : ""));

    var epochs = s.epochs;
    set("epoch", epochs ? Math.min(s.epoch + 1, epochs) + " / " + epochs : String(s.epoch + 1));
    set("epochNote", s.stepsPerEpoch ? s.stepsPerEpoch + " steps per epoch" : "");
    $("step").dataset.value = String(s.step);
    set("step", String(s.step));
    set("stepNote", s.totalSteps ? "of " + s.totalSteps + " (" + Math.floor((100 * s.step) / s.totalSteps) + "%)" : "");
    $("progress").style.width = s.totalSteps ? Math.min(100, (100 * s.step) / s.totalSteps).toFixed(1) + "%" : "0";
    set("elapsed", duration(s.elapsedSeconds));
    var endedAt = s.endedAt || (s.status === "interrupted" ? s.lastEventAt : null);
    set("eta", finalStates[s.status] ? "ended " + (endedAt ? new Date(endedAt).toLocaleString() : "")
      : s.etaSeconds !== null ? "ETA " + duration(s.etaSeconds) + " (training steps)" : "ETA -");
    set("loss", num(s.loss, 4));
    set("lossNote", s.skippedSteps ? s.skippedSteps + " skipped step(s)" : s.lossScale && s.lossScale !== 1 ? "loss scale " + s.lossScale : "soft Dice loss, mean over ranks");
    set("best", s.best ? num(s.best.mean, 3) : "-");
    set("bestNote", s.best ? "at step " + s.best.step : "no validation yet");
    set("throughput", s.voxelsPerSecond === null ? "-" : count(s.voxelsPerSecond) + " vox/s");
    set("stepTime", (s.stepSeconds !== null ? num(s.stepSeconds, 2) + " s/step" : "") + (s.stepsPerSecond ? " · " + num(s.stepsPerSecond, 2) + " steps/s recent" : ""));
    var w = s.workers;
    set("workersUp", (w.up === null ? "?" : String(w.up)) + (w.worldSize !== null ? " / " + w.worldSize : ""));
    set("backend", w.backend ? w.backend + ", " + w.threads + " thread(s) each" : "");
    set("restarts", String(s.restarts.count));
    var lastRestart = s.restarts.recent[s.restarts.recent.length - 1];
    set("restartNote", lastRestart ? "last from step " + lastRestart.fromStep : "");

    // ---- curves
    var restartMarks = s.restarts.recent.map(function (r) { return { step: r.fromStep, label: "restart " + r.count, color: "#c53030", dash: "2 3" }; });
    var bestMark = s.best ? [{ step: s.best.step, label: "", color: "#b08900", dash: "5 4" }] : [];
    var loss = s.curves.loss, smooth = ema(loss);
    var lossSeries = [{ label: smooth ? "loss" : "training loss", color: palette[0], points: loss, width: smooth ? 1.1 : 1.8, opacity: smooth ? 0.45 : 1 }];
    if (smooth) lossSeries.push({ label: "EMA", color: "#0b3c66", points: smooth, width: 2.2 });
    chart($("lossChart"), $("lossReadout"), { series: lossSeries, xLabel: "global step", yLabel: "soft Dice loss", marks: bestMark.concat(restartMarks), xMin: 0, xMax: s.totalSteps, empty: "waiting for the first step" });
    var lossItems = [{ label: "per step" + (s.curves.lossStride > 1 ? " (mean of " + s.curves.lossStride + ")" : ""), color: palette[0] }];
    if (smooth) lossItems.push({ label: "exponential moving average", color: "#0b3c66" });
    if (s.best) lossItems.push({ label: "best checkpoint", color: "#b08900", dash: true });
    if (restartMarks.length) lossItems.push({ label: "restart (steps redone)", color: "#c53030", dash: true });
    legend("lossLegend", lossItems);
    set("lossChartNote", loss.length ? loss.length + " points" : "");

    var series = s.classes.map(function (c, i) { return { label: c, color: classColor(i), points: s.curves.dice[c] || [], dots: true }; });
    series.push({ label: "mean", color: "#1d232b", points: s.curves.dice.mean || [], width: 2.6, dots: true });
    var marks = bestMark.slice();
    if (s.validatingStep !== null) marks.push({ step: s.validatingStep, label: "validating", color: "#7b4fc9", dash: "2 2" });
    chart($("diceChart"), $("diceReadout"), {
      series: series, xLabel: "global step", yLabel: "Dice", yRange: [0, 1], marks: marks, xMin: 0, xMax: s.totalSteps,
      best: s.best ? { step: s.best.step, value: s.best.mean, label: "best " + s.best.mean.toFixed(3) + " @ " + s.best.step } : null,
      empty: s.validatingStep !== null ? "first validation running (step " + s.validatingStep + ")" : "no validation yet",
    });
    var items = series.map(function (x) { return { label: x.label === "mean" ? "mean Dice" : x.label, color: x.color }; });
    if (s.best) items.push({ label: "best checkpoint: mean " + s.best.mean.toFixed(3) + " at step " + s.best.step, color: "#b08900", dash: true });
    legend("diceLegend", items);
    set("diceChartNote", (s.curves.dice.mean || []).length + " validation(s)");

    // ---- latest validation
    var v = s.validation;
    if (v) {
      set("valNote", "step " + v.step + ", epoch " + (v.epoch + 1) + ", took " + duration(v.seconds));
      var rows = ['<tr><th>class</th><th class="n">Dice (latest)</th><th class="n">Dice (best, step ' + s.best.step + ")</th></tr>"];
      s.classes.forEach(function (c, i) {
        rows.push('<tr><td><span class="swatch" style="background:' + classColor(i) + '"></span>' + esc(c) + '</td><td class="n">' + num(v.dice[c], 3) + '</td><td class="n">' + num(s.best.dice[c], 3) + "</td></tr>");
      });
      rows.push('<tr><td><b>mean</b></td><td class="n"><b>' + num(v.mean, 3) + '</b></td><td class="n"><b>' + num(s.best.mean, 3) + "</b></td></tr>");
      $("valTable").innerHTML = rows.join("");
    } else {
      set("valNote", "");
      $("valTable").innerHTML = '<tr><td class="empty">classes: ' + esc(s.classes.join(", ") || "-") + "; no validation yet</td></tr>";
    }
    if (s.preview && s.preview.url !== previewSrc) {
      previewSrc = s.preview.url;
      $("preview").innerHTML = '<img alt="validation preview" src="' + esc(s.preview.url) + '">';
    }

    // ---- workers
    var wrows = ['<tr><th>rank</th><th class="n">voxels/s</th><th class="n">step time</th><th class="n">step</th><th class="n">last heard</th></tr>'];
    w.ranks.forEach(function (r) {
      var stale = r.secondsSinceHeard > 15 ? ' class="n stale"' : ' class="n"';
      wrows.push("<tr><td>" + r.rank + '</td><td class="n">' + count(r.voxelsPerSecond) + '</td><td class="n">' + (r.stepSeconds === null ? "-" : num(r.stepSeconds, 2) + " s") +
        '</td><td class="n">' + (r.step === null ? "-" : r.step) + "</td><td" + stale + ">" + num(r.secondsSinceHeard, 1) + " s ago</td></tr>");
    });
    if (w.ranks.length === 0) wrows.push('<tr><td colspan="5" class="empty">' + (s.live ? "no worker has reported yet" : "per-rank figures are only known while the run's coordinator serves this page") + "</td></tr>");
    $("workers").innerHTML = wrows.join("");
    set("workersNote", w.up === null ? "" : w.up + " in the ring");
    $("restartList").innerHTML = s.restarts.recent.length ? "<h2 style=\\"margin-top:12px\\">Restarts</h2><ul class=\\"restarts\\">" + s.restarts.recent.map(function (r) {
      return "<li>#" + r.count + " at " + new Date(r.time).toLocaleTimeString() + ", from step " + r.fromStep + ": " + esc(r.reason) + "</li>";
    }).join("") + "</ul>" : "";
    set("checkpoints", s.checkpoints.last ? s.checkpoints.count + " checkpoint(s) written; last at step " + s.checkpoints.last.step + (s.best && s.best.checkpoint ? "; best: " + s.best.checkpoint : "") : "no checkpoint yet");
    set("exported", s.export ? "exported bundle: " + s.export.bundle + (s.export.prediction ? "; prediction: " + s.export.prediction : "") : "");

    // ---- configuration (static: drawn once)
    var cfg = s.config ? JSON.stringify(s.config, null, 2) : null;
    if (cfg !== configShown) {
      configShown = cfg;
      set("config", cfg || "config.json not found");
      set("configNote", s.config ? "(config.json" + (s.config.preset ? ", preset " + s.config.preset : "") + ", " + Object.keys(s.config).length + " keys)" : "");
    }
  }

  function poll() {
    fetch("/api/run", { cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (s) {
        failures = 0; state = s;
        set("conn", "");
        render(s);
        schedule(finalStates[s.status] ? 10000 : 2000);
      }, function () {
        failures++;
        if (state && finalStates[state.status]) set("conn", "");
        else set("conn", "the server is not answering (since " + failures + " tries); showing the last state" + (state ? "" : " - none yet") + ". A finished run: orchestrate view RUN");
        schedule(Math.min(15000, 2000 * failures));
      });
  }
  function schedule(ms) { clearTimeout(timer); timer = setTimeout(poll, ms); }
  poll();
})();
</script>
</body>
</html>
`;
