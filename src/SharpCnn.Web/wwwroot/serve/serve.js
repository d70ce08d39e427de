// The model server's page: shows the model's summary (GET /model) and posts what is drawn on the canvas
// to POST /predict as a PNG after each stroke, then shows the top classes.
"use strict";
(function () {
  const pad = document.getElementById("pad");
  const ctx = pad.getContext("2d");
  const status = document.getElementById("status");
  const body = document.querySelector("#prediction tbody");
  let drawing = false;
  let last = null;
  let inked = false;
  let pending = 0;

  function clear() {
    // Light strokes on black, like the MNIST digits; an opaque background (transparency would become white).
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, pad.width, pad.height);
    inked = false;
    body.replaceChildren();
    status.textContent = "Draw something.";
  }

  function point(event) {
    const box = pad.getBoundingClientRect();
    return { x: (event.clientX - box.left) * pad.width / box.width, y: (event.clientY - box.top) * pad.height / box.height };
  }

  function line(from, to) {
    ctx.strokeStyle = "#fff";
    ctx.fillStyle = "#fff";
    ctx.lineWidth = 20;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
    inked = true;
  }

  pad.addEventListener("pointerdown", (e) => {
    drawing = true;
    last = point(e);
    line(last, last);
    pad.setPointerCapture(e.pointerId);
  });
  pad.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    const p = point(e);
    line(last, p);
    last = p;
  });
  function end() {
    if (!drawing) return;
    drawing = false;
    classify();
  }
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);

  function classify() {
    if (!inked) return;
    const id = ++pending;
    status.textContent = "Classifying…";
    pad.toBlob(async (png) => {
      try {
        const response = await fetch("/predict?top=3", { method: "POST", headers: { "Content-Type": "image/png" }, body: png });
        const answer = await response.json();
        if (id !== pending) return; // a newer stroke's answer will follow
        if (!response.ok) {
          status.textContent = "Error " + response.status + ": " + answer.error;
          status.className = "error";
          return;
        }
        status.className = "";
        const best = answer.classes[0];
        status.innerHTML = "";
        status.append("It is a ");
        const strong = document.createElement("strong");
        strong.id = "best";
        strong.textContent = best.name;
        status.append(strong, ` (${(best.probability * 100).toFixed(1)} %, ${answer.milliseconds.toFixed(1)} ms)`);
        body.replaceChildren(...answer.classes.map((c) => {
          const row = document.createElement("tr");
          const name = document.createElement("td");
          name.textContent = c.name;
          const p = document.createElement("td");
          p.textContent = (c.probability * 100).toFixed(2) + " %";
          const bar = document.createElement("td");
          bar.className = "bar";
          const fill = document.createElement("div");
          fill.className = "fill";
          fill.style.width = (c.probability * 100).toFixed(1) + "%";
          bar.append(fill);
          row.append(name, p, bar);
          return row;
        }));
      } catch (error) {
        status.textContent = "The server did not answer: " + error;
        status.className = "error";
      }
    }, "image/png");
  }

  document.getElementById("clear").addEventListener("click", clear);
  document.getElementById("classify").addEventListener("click", classify);
  clear();

  fetch("/model").then((r) => r.json()).then((model) => {
    document.getElementById("model-name").textContent = model.model;
    document.getElementById("model-spec").textContent =
      `${model.spec} — input ${model.input.channels}x${model.input.height}x${model.input.width}, ${model.classes.length} classes, loss ${model.loss}`;
    const rows = document.querySelector("#layers tbody");
    rows.replaceChildren(...model.layers.map((l) => {
      const row = document.createElement("tr");
      for (const value of [l.index, l.layer, l.output, l.parameters.toLocaleString("en"), l.flops.toLocaleString("en")]) {
        const cell = document.createElement("td");
        cell.textContent = value;
        row.append(cell);
      }
      return row;
    }));
    document.getElementById("totals").textContent = `${model.parameters.toLocaleString("en")} parameters; batches of up to ${model.maxBatch}; bodies up to ${(model.maxBodyBytes / 1048576).toFixed(0)} MiB.`;
  }).catch((error) => { document.getElementById("totals").textContent = "The model summary did not load: " + error; });
})();
