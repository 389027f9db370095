// The redaction editor: boxes drawn with the pointer over the paused video, kept in the form's rows
// (the rows are the real input: typing in them redraws, drawing fills them in). Boxes are in pixels of
// the recorded frame, scaled from the displayed picture by video.videoWidth/videoHeight; times are
// seconds in the recording, as the API takes them.
"use strict";
(() => {
  const form = document.getElementById("redact-form");
  if (!form) return;
  const video = document.getElementById("redact-video");
  const canvas = document.getElementById("redact-canvas");
  const g = canvas.getContext("2d");
  const seek = document.getElementById("player-seek");
  const readout = document.getElementById("player-time");
  const playButton = document.getElementById("play-button");
  const announce = document.getElementById("redact-announce");
  const lists = { box: document.getElementById("boxes"), mute: document.getElementById("mutes") };
  const templates = { box: document.getElementById("box-row"), mute: document.getElementById("mute-row") };
  const clipStart = parseFloat(form.dataset.clipStart) || 0;
  const serverEnd = parseFloat(form.dataset.clipEnd);
  // Row indexes only need to be unique per kind (the server orders rows by them); gaps are fine.
  const nextIndex = { box: parseInt(form.dataset.nextBox, 10) || 0, mute: parseInt(form.dataset.nextMute, 10) || 0 };
  let drag = null;

  const r2 = (t) => Math.round(t * 100) / 100;
  const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);
  const clipEnd = () => (Number.isFinite(serverEnd) ? serverEnd : (Number.isFinite(video.duration) ? video.duration : clipStart + 2));
  const clampT = (t) => clamp(t, clipStart, clipEnd());
  // The picture as decoded (upright), falling back to the probe's size until the metadata has loaded.
  const frameW = () => video.videoWidth || parseInt(form.dataset.frameW, 10) || 0;
  const frameH = () => video.videoHeight || parseInt(form.dataset.frameH, 10) || 0;
  const say = (text) => { announce.textContent = text; };

  // ---- the overlay sits exactly over the picture (object-fit: contain inside the video box) ----
  function place() {
    const fw = video.videoWidth, fh = video.videoHeight;
    if (!fw || !fh) return;
    const ew = video.clientWidth, eh = video.clientHeight;
    const scale = Math.min(ew / fw, eh / fh);
    const w = fw * scale, h = fh * scale;
    canvas.style.left = `${video.offsetLeft + (ew - w) / 2}px`;
    canvas.style.top = `${video.offsetTop + (eh - h) / 2}px`;
    canvas.style.width = `${w}px`;
    canvas.style.height = `${h}px`;
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    draw();
  }

  function toFrame(ev) {
    const r = canvas.getBoundingClientRect();
    return [clamp((ev.clientX - r.left) * frameW() / r.width, 0, frameW()),
            clamp((ev.clientY - r.top) * frameH() / r.height, 0, frameH())];
  }

  // ---- rows ----
  const rows = (kind) => Array.from(lists[kind].querySelectorAll(`[data-row="${kind}"]`));
  const field = (row, name) => row.querySelector(`[data-field="${name}"]`);

  function readBox(row) {
    const v = {};
    for (const k of ["x", "y", "w", "h", "start_s", "end_s"]) {
      v[k] = parseFloat(field(row, k).value);
      if (!Number.isFinite(v[k])) return null;
    }
    return v;
  }

  function renumber() {
    for (const kind of ["box", "mute"]) rows(kind).forEach((row, n) => { row.querySelector("[data-num]").textContent = String(n + 1); });
  }

  function limitInputs(row) {
    const W = frameW(), H = frameH(), end = clipEnd();
    if (row.dataset.row === "box" && W && H) {
      field(row, "x").max = String(W - 1); field(row, "w").max = String(W);
      field(row, "y").max = String(H - 1); field(row, "h").max = String(H);
    }
    for (const k of ["start_s", "end_s"]) { field(row, k).min = String(clipStart); field(row, k).max = String(r2(end + 0.5)); }
  }

  function addRow(kind, values) {
    const i = nextIndex[kind]++;
    const frag = templates[kind].content.cloneNode(true);
    for (const el of frag.querySelectorAll("[id],[for],[name]")) {
      for (const a of ["id", "for", "name"]) if (el.hasAttribute(a)) el.setAttribute(a, el.getAttribute(a).replace("__i__", String(i)));
    }
    const row = frag.querySelector("[data-row]");
    for (const [k, v] of Object.entries(values)) field(row, k).value = String(v);
    lists[kind].appendChild(frag);
    limitInputs(row);
    renumber();
    draw();
    return row;
  }

  // A new box or range covers the moment shown, one second either side, inside the item's part.
  function around(t) {
    let start = clampT(t - 1), end = clampT(t + 1);
    if (end - start < 0.1) { start = clampT(end - 1); }
    return { start_s: r2(start), end_s: r2(end) };
  }

  function addBox(box) {
    const row = addRow("box", { ...box, ...around(video.currentTime) });
    const n = rows("box").length;
    say(`Box ${n} added: x ${box.x}, y ${box.y}, ${box.w} by ${box.h} pixels, ${field(row, "start_s").value} to ${field(row, "end_s").value} s.`);
    return row;
  }

  // ---- drawing ----
  function draw() {
    g.clearRect(0, 0, canvas.width, canvas.height);
    const W = frameW(), H = frameH();
    if (!W || !H || !canvas.width) return;
    const sx = canvas.width / W, sy = canvas.height / H, t = video.currentTime;
    const dpr = window.devicePixelRatio || 1;
    g.font = `${14 * dpr}px system-ui, sans-serif`;
    rows("box").forEach((row, n) => {
      const b = readBox(row);
      if (!b) return;
      const live = t >= b.start_s && t <= b.end_s;
      g.setLineDash(live ? [] : [6 * dpr, 4 * dpr]);
      g.lineWidth = 2 * dpr;
      if (live) { g.fillStyle = "rgba(0, 0, 0, 0.45)"; g.fillRect(b.x * sx, b.y * sy, b.w * sx, b.h * sy); }
      g.strokeStyle = live ? "#ffdd00" : "#ffffff";
      g.strokeRect(b.x * sx, b.y * sy, b.w * sx, b.h * sy);
      g.fillStyle = live ? "#ffdd00" : "#ffffff";
      g.fillText(String(n + 1), b.x * sx + 4 * dpr, b.y * sy + 16 * dpr);
    });
    if (drag) {
      g.setLineDash([4 * dpr, 3 * dpr]);
      g.strokeStyle = "#ffdd00";
      g.lineWidth = 2 * dpr;
      g.strokeRect(Math.min(drag.x0, drag.x1) * sx, Math.min(drag.y0, drag.y1) * sy,
                   Math.abs(drag.x1 - drag.x0) * sx, Math.abs(drag.y1 - drag.y0) * sy);
    }
  }

  canvas.addEventListener("pointerdown", (ev) => {
    if (!video.videoWidth || ev.button !== 0) return;
    video.pause();
    canvas.setPointerCapture(ev.pointerId);
    const [x, y] = toFrame(ev);
    drag = { x0: x, y0: y, x1: x, y1: y };
    ev.preventDefault();
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    [drag.x1, drag.y1] = toFrame(ev);
    draw();
  });
  const finish = (ev) => {
    if (!drag) return;
    [drag.x1, drag.y1] = toFrame(ev);
    const x = Math.floor(Math.min(drag.x0, drag.x1)), y = Math.floor(Math.min(drag.y0, drag.y1));
    const w = Math.min(Math.ceil(Math.max(drag.x0, drag.x1)), frameW()) - x;
    const h = Math.min(Math.ceil(Math.max(drag.y0, drag.y1)), frameH()) - y;
    drag = null;
    if (w >= 4 && h >= 4) addBox({ x, y, w, h }); else draw();  // a click, not a drag
  };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", () => { drag = null; draw(); });

  // ---- buttons: player, rows ----
  form.addEventListener("input", draw);
  document.addEventListener("click", (ev) => {
    const btn = ev.target.closest("button[data-action]");
    if (!btn) return;
    const row = btn.closest("[data-row]");
    const t = r2(video.currentTime);
    switch (btn.dataset.action) {
      case "play":
        if (video.paused) video.play().catch(() => {}); else video.pause();
        break;
      case "step":
        video.pause();
        video.currentTime = clampT(video.currentTime + parseFloat(btn.dataset.step));
        break;
      case "set-start": field(row, "start_s").value = String(t); say(`Start set to ${t} s.`); break;
      case "set-end": field(row, "end_s").value = String(t); say(`End set to ${t} s.`); break;
      case "remove": {
        const next = row.nextElementSibling || row.previousElementSibling;
        row.remove();
        renumber();
        say("Removed.");
        (next ? next.querySelector("input") : form.querySelector(`[data-action="add-${row.dataset.row}"]`)).focus();
        break;
      }
      case "add-box": {
        // Typed rather than drawn: a box of a quarter of the frame in the middle, to adjust.
        const W = frameW() || 100, H = frameH() || 100;
        const r = addBox({ x: Math.round(W * 3 / 8), y: Math.round(H * 3 / 8), w: Math.round(W / 4), h: Math.round(H / 4) });
        field(r, "x").focus();
        field(r, "x").select();  // typing replaces the suggestion
        break;
      }
      case "add-mute": {
        const r = addRow("mute", around(video.currentTime));
        say(`Muted range ${rows("mute").length} added: ${field(r, "start_s").value} to ${field(r, "end_s").value} s.`);
        field(r, "start_s").focus();
        field(r, "start_s").select();
        break;
      }
      default: return;
    }
    draw();
  });

  seek.addEventListener("input", () => { video.currentTime = clampT(parseFloat(seek.value)); });
  const showTime = () => {
    if (!video.paused && video.currentTime > clipEnd() + 0.05) video.pause();  // the item's part ends here
    readout.textContent = `${video.currentTime.toFixed(2)} s`;
    seek.value = String(video.currentTime);
    draw();
  };
  video.addEventListener("timeupdate", showTime);
  video.addEventListener("seeked", showTime);
  video.addEventListener("play", () => { playButton.textContent = "Pause"; });
  video.addEventListener("pause", () => { playButton.textContent = "Play"; });
  video.addEventListener("ended", () => { playButton.textContent = "Play"; });
  video.addEventListener("loadedmetadata", () => {
    seek.min = String(clipStart);
    seek.max = String(clipEnd());
    if (video.currentTime < clipStart) video.currentTime = clipStart;
    for (const kind of ["box", "mute"]) rows(kind).forEach(limitInputs);
    place();
  });
  if (window.ResizeObserver) new ResizeObserver(place).observe(video);
  window.addEventListener("resize", place);
  if (video.readyState >= 1) video.dispatchEvent(new Event("loadedmetadata"));
  renumber();
})();
