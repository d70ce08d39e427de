// The live training page: server-sent events from /events drawn with uPlot (vendored, MIT).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const SMOOTHING = 0.9; // TensorBoard's default-like exponential smoothing, debiased
  const state = { steps: [], loss: [], lossSmooth: [], acc: [], accSmooth: [], epochs: [], trainLoss: [], heldLoss: [], trainAcc: [], heldAcc: [], live: false, done: false, layerRows: 0 };
  window.sharpcnnLive = state; // read by the browser tests

  function fmt(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return "-";
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(digits || 3);
    return v.toPrecision(digits || 4);
  }
  function duration(s) {
    if (s === null || s === undefined) return "-";
    s = Math.round(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + "h " : "") + (h || m ? m + "m " : "") + r + "s";
  }

  function chart(id, series, yLabel) {
    const el = $(id);
    const opts = {
      width: Math.min(540, el.clientWidth || 540), height: 240,
      scales: { x: { time: false } },
      axes: [{ label: series[0] }, { label: yLabel }],
      series: [{ label: series[0] }].concat(series.slice(1)),
    };
    const data = [[]].concat(series.slice(1).map(() => []));
    return new uPlot(opts, data, el);
  }
  const charts = {
    loss: chart("loss-chart", ["step", { label: "raw", stroke: "#c8c8c8" }, { label: "smoothed", stroke: "#1f77b4", width: 2 }], "loss"),
    acc: chart("accuracy-chart", ["step", { label: "raw", stroke: "#c8c8c8" }, { label: "smoothed", stroke: "#2ca02c", width: 2 }], "accuracy (%)"),
    epochLoss: chart("epoch-loss-chart", ["epoch", { label: "training", stroke: "#1f77b4", width: 2, points: { show: true } }, { label: "held out", stroke: "#d62728", width: 2, points: { show: true } }], "loss"),
    epochAcc: chart("epoch-accuracy-chart", ["epoch", { label: "training", stroke: "#1f77b4", width: 2, points: { show: true } }, { label: "held out", stroke: "#d62728", width: 2, points: { show: true } }], "accuracy (%)"),
  };

  // Charts are redrawn at most twice a second whatever the event rate: the browser usually shares the
  // training machine's cores, and the page must cost training little (docs/LIVE.md).
  const REDRAW_MS = 500;
  let pending = false, epochsChanged = true, lastDraw = 0;
  function draw() {
    pending = false;
    lastDraw = performance.now();
    charts.loss.setData([state.steps, state.loss, state.lossSmooth]);
    charts.acc.setData([state.steps, state.acc, state.accSmooth]);
    if (epochsChanged) {
      charts.epochLoss.setData([state.epochs, state.trainLoss, state.heldLoss]);
      charts.epochAcc.setData([state.epochs, state.trainAcc, state.heldAcc]);
      epochsChanged = false;
    }
    const s = state.last;
    if (s) {
      $("step").textContent = s.step;
      $("total-steps").textContent = s.total_steps || "-";
      $("epoch").textContent = s.epoch || "-";
      $("loss").textContent = fmt(s.loss);
      $("accuracy").textContent = fmt(100 * s.accuracy, 3) + " %";
      if (s.samples_per_second !== undefined) $("speed").textContent = fmt(s.samples_per_second, 4);
      if (s.seconds_left !== undefined) $("left").textContent = duration(s.seconds_left);
      state.last = null;
    }
    document.body.dataset.stepPoints = String(state.steps.length);
  }
  function redraw(epochs) {
    if (epochs) epochsChanged = true;
    if (pending) return;
    pending = true;
    setTimeout(() => requestAnimationFrame(draw), Math.max(0, REDRAW_MS - (performance.now() - lastDraw)));
  }

  function smooth(series, raw, value) {
    // Debiased exponential moving average: s_t = w s_(t-1) + (1 - w) x_t, divided by 1 - w^t.
    const n = raw.length;
    series.ema = (series.ema || 0) * SMOOTHING + (1 - SMOOTHING) * value;
    return series.ema / (1 - Math.pow(SMOOTHING, n));
  }

  function reset() {
    for (const key of ["steps", "loss", "lossSmooth", "acc", "accSmooth", "epochs", "trainLoss", "heldLoss", "trainAcc", "heldAcc"]) state[key] = [];
    state.lossSmooth.ema = 0; state.accSmooth.ema = 0;
    state.done = false; state.layerRows = 0;
    $("guard").hidden = true;
    redraw(true);
  }

  const source = new EventSource("/events");
  const on = (type, handler) => source.addEventListener(type, (e) => handler(JSON.parse(e.data)));
  source.onopen = () => { if (!state.done) $("status").textContent = state.live ? "training" : "connected"; };
  source.onerror = () => { if (!state.done) $("status").textContent = "connection lost; retrying…"; };

  on("reset", reset);
  on("run", (r) => {
    state.live = !!r.live;
    $("model").textContent = (r.model ? r.model + ": " : "") + r.spec + " — " + Number(r.parameters).toLocaleString("en") + " parameters" +
      (r.data ? "; " + r.data : "") + (r.settings ? "; " + r.settings : "");
    $("status").textContent = r.live ? "training" : "replaying " + (r.source || "a finished run");
    $("pause").disabled = !r.live; $("stop").disabled = !r.live;
    if (!r.live) { $("pause").hidden = true; $("stop").hidden = true; }
  });
  on("step", (s) => {
    if (s.loss === null || s.loss === undefined) return;
    state.steps.push(s.step);
    state.loss.push(s.loss);
    state.lossSmooth.push(smooth(state.lossSmooth, state.loss, s.loss));
    state.acc.push(100 * s.accuracy);
    state.accSmooth.push(smooth(state.accSmooth, state.acc, 100 * s.accuracy));
    state.last = s;
    redraw();
  });
  on("layers", (l) => {
    $("layers-step").textContent = "at step " + l.step;
    const body = document.querySelector("#layers tbody");
    body.textContent = "";
    let rows = 0;
    l.layers.forEach((layer, k) => {
      const params = l.parameters.filter((p) => p.layer === k + 1);
      const count = Math.max(1, params.length);
      for (let i = 0; i < count; i++) {
        const tr = document.createElement("tr");
        const cell = (text, bad, title) => { const td = document.createElement("td"); td.textContent = text; if (bad) { td.className = "bad"; td.title = title; } tr.appendChild(td); return td; };
        if (i === 0) {
          for (const td of [cell(layer.name), cell(fmt(layer.mean_abs)), cell(fmt(layer.max_abs), layer.max_abs > 1e4, "exploding activations"),
            cell(layer.zero_fraction === null ? "-" : fmt(100 * layer.zero_fraction, 3) + " %", layer.name.endsWith("relu") && layer.zero_fraction > 0.9, "most outputs are dead")]) td.rowSpan = count;
        }
        const p = params[i];
        if (p) {
          cell(p.name.split(" ").pop());
          cell(fmt(p.gradient_norm), p.gradient_norm !== null && (p.gradient_norm < 1e-7 || p.gradient_norm > 1e3), "vanishing or exploding gradient");
          cell(fmt(p.update_ratio), p.update_ratio !== null && (p.update_ratio > 0.1 || p.update_ratio < 1e-7), "update far from ~1e-3 of the weights");
        } else { cell(""); cell(""); cell(""); }
        body.appendChild(tr);
        rows++;
      }
    });
    state.layerRows = rows;
    document.body.dataset.layerRows = String(rows);
  });
  on("epoch", (e) => {
    state.epochs.push(e.epoch);
    state.trainLoss.push(e.train_loss);
    state.heldLoss.push(e.held_loss === undefined ? null : e.held_loss);
    state.trainAcc.push(e.train_accuracy === undefined ? null : 100 * e.train_accuracy);
    state.heldAcc.push(e.held_accuracy === undefined ? null : 100 * e.held_accuracy);
    $("epoch").textContent = e.epoch + " / " + e.epochs;
    if (e.confusion) confusion(e.confusion, "epoch " + e.epoch + ", " + (e.held_out || "held-out") + " set: rows true class, columns predicted");
    redraw(true);
  });
  on("pictures", (p) => {
    if (p.kernels) $("kernels").src = p.kernels;
    if (p.feature_maps) $("feature-maps").src = p.feature_maps;
    $("pictures-step").textContent = "(step " + p.step + ")";
  });
  on("paused", (p) => {
    $("pause").textContent = p.paused ? "resume" : "pause";
    $("status").textContent = p.paused ? "paused" : "training";
  });
  on("stopping", () => { $("status").textContent = "stopping after this step; writing a checkpoint…"; $("stop").disabled = true; $("pause").disabled = true; });
  on("guard", (g) => {
    const el = $("guard");
    el.hidden = false;
    el.textContent = "the divergence guard stopped training: " + g.divergence + (g.advice ? " — " + g.advice : "") + (g.last_checkpoint ? " (last good checkpoint: " + g.last_checkpoint + ")" : "");
  });
  on("done", (d) => {
    state.done = true;
    const el = $("status");
    el.className = "status done";
    el.textContent = "done: " + d.stop_reason + " after " + d.steps + " steps" + (d.test_accuracy !== undefined ? "; test accuracy " + fmt(100 * d.test_accuracy, 4) + " %" : "") +
      (d.checkpoint ? "; checkpoint " + d.checkpoint : "");
    $("pause").disabled = true; $("stop").disabled = true;
    if (d.confusion) confusion(d.confusion, "final, test set: rows true class, columns predicted");
    document.body.dataset.done = "true";
  });

  function confusion(matrix, caption) {
    $("confusion-caption").textContent = caption;
    const table = $("confusion");
    table.textContent = "";
    const head = document.createElement("tr");
    head.appendChild(document.createElement("th"));
    matrix.forEach((_, j) => { const th = document.createElement("th"); th.textContent = j; head.appendChild(th); });
    table.appendChild(head);
    matrix.forEach((row, i) => {
      const tr = document.createElement("tr");
      const th = document.createElement("th"); th.textContent = i; tr.appendChild(th);
      const total = row.reduce((a, b) => a + b, 0) || 1;
      row.forEach((count) => {
        const td = document.createElement("td");
        const f = count / total;
        td.textContent = count;
        td.style.background = "rgba(8, 48, 107, " + f.toFixed(3) + ")";
        td.style.color = f > 0.5 ? "#fff" : "#222";
        tr.appendChild(td);
      });
      table.appendChild(tr);
    });
  }

  async function control(action) {
    const response = await fetch("/control", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ action }) });
    const answer = await response.json();
    $("control-state").textContent = answer.state || answer.error || "";
  }
  $("pause").addEventListener("click", () => control($("pause").textContent === "resume" ? "resume" : "pause"));
  $("stop").addEventListener("click", () => control("stop"));
})();
