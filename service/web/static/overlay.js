// Face tracks drawn over a player: where each face the detector found is at the moment shown, and what
// happens to it (kept: the requester, ticked in the editor; blurred: everyone else). Used by the
// redaction editor (over the original) and the review player (over the redacted copy, from the
// redaction log). A stage is any element with data-face-overlay (a JSON list of tracks: the boxes URL
// and how to label it, or a fixed box), a <video> and a <canvas class="face-overlay">; data-offset is
// the recording's second at the video's 0 (the clip's start for a redacted copy). The canvas says in
// data-drawn (and its aria-label) which faces it shows, so the drawing can be read without pixels.
"use strict";
(() => {
  const fetched = new Map();
  const boxesOf = (url) => {
    if (!fetched.has(url)) {
      fetched.set(url, fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((r) => (r.ok ? r.json() : null)).catch(() => null));
    }
    return fetched.get(url);
  };

  // The box a track covers at recording second t: between two detections the union of both (the face is
  // somewhere on that path, as the redactor blurs it); the nearest detection inside the track's margins.
  function boxAt(track, t) {
    const b = track.boxes;
    if (!b || !b.length || t < track.start_s || t > track.end_s) return null;
    let lo = 0, hi = b.length - 1;
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (b[mid].t <= t) lo = mid; else hi = mid - 1; }
    const before = b[lo].t <= t ? b[lo] : null;
    const after = before ? b[Math.min(lo + 1, b.length - 1)] : b[0];
    if (!before) return after;
    if (after.t < t) return before;
    const x0 = Math.min(before.x, after.x), y0 = Math.min(before.y, after.y);
    return { x: x0, y: y0, w: Math.max(before.x + before.w, after.x + after.w) - x0,
             h: Math.max(before.y + before.h, after.y + after.h) - y0 };
  }

  function attach(stage) {
    if (stage.dataset.overlayReady) return;
    stage.dataset.overlayReady = "1";
    const video = stage.querySelector("video");
    const canvas = stage.querySelector("canvas.face-overlay");
    if (!video || !canvas) return;
    const g = canvas.getContext("2d");
    const offset = parseFloat(stage.dataset.offset) || 0;
    const shown = [];

    function place() {
      const fw = video.videoWidth, fh = video.videoHeight;
      if (!fw || !fh) return false;
      const ew = video.clientWidth, eh = video.clientHeight;
      const scale = Math.min(ew / fw, eh / fh);
      const w = fw * scale, h = fh * scale, dpr = window.devicePixelRatio || 1;
      canvas.style.left = `${video.offsetLeft + (ew - w) / 2}px`;
      canvas.style.top = `${video.offsetTop + (eh - h) / 2}px`;
      canvas.style.width = `${w}px`;
      canvas.style.height = `${h}px`;
      if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
      if (canvas.height !== Math.round(h * dpr)) canvas.height = Math.round(h * dpr);
      return true;
    }

    function draw() {
      if (!place()) return;
      g.clearRect(0, 0, canvas.width, canvas.height);
      const sx = canvas.width / video.videoWidth, sy = canvas.height / video.videoHeight;
      const t = video.currentTime + offset;
      const labels = [];
      for (const item of shown) {
        const box = item.box ? (t >= item.box.start_s && t < item.box.end_s ? item.box : null) : boxAt(item, t);
        if (!box) continue;
        const keep = item.keep ? document.getElementById(item.keep) : null;
        const kept = keep ? keep.checked : item.action === "kept";
        const label = item.box ? item.label : `Face ${item.number}: ${kept ? "kept" : "blurred"}`;
        g.lineWidth = 2 * (window.devicePixelRatio || 1);
        g.setLineDash(kept ? [] : [6, 4]);
        g.strokeStyle = kept ? "#1a7f37" : "#d4351c";
        g.strokeRect(box.x * sx, box.y * sy, box.w * sx, box.h * sy);
        g.font = `${12 * (window.devicePixelRatio || 1)}px sans-serif`;
        const tw = g.measureText(label).width + 8;
        g.fillStyle = g.strokeStyle;
        g.fillRect(box.x * sx, Math.max(0, box.y * sy - 18), tw, 18);
        g.fillStyle = "#fff";
        g.fillText(label, box.x * sx + 4, Math.max(13, box.y * sy - 5));
        labels.push(label);
      }
      canvas.dataset.drawn = labels.join("; ");
      canvas.setAttribute("aria-label", labels.length ? `Shown over the picture: ${labels.join("; ")}` : "No face tracks at this moment");
    }

    let items = [];
    try { items = JSON.parse(stage.dataset.faceOverlay || "[]"); } catch (e) { items = []; }
    for (const item of items) {
      if (item.box) { shown.push(item); continue; }
      boxesOf(item.url).then((data) => { if (data) { shown.push({ ...item, ...data }); draw(); } });
    }
    for (const ev of ["loadedmetadata", "loadeddata", "timeupdate", "seeked"]) video.addEventListener(ev, draw);
    video.addEventListener("play", () => {
      const loop = () => { draw(); if (!video.paused && !video.ended) requestAnimationFrame(loop); };
      requestAnimationFrame(loop);
    });
    window.addEventListener("resize", draw);
    document.addEventListener("change", (ev) => { if (ev.target.name === "keep_tracks") draw(); });
    draw();
  }

  const scan = (root) => { if (root && root.querySelectorAll) root.querySelectorAll("[data-face-overlay]").forEach(attach); };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => scan(document));
  else scan(document);
  document.addEventListener("htmx:load", (ev) => scan(ev.target));  // a review fragment swapped in
})();
