// bodycam console: the staff uploader. Hashes the file (SHA-256, incrementally: no whole file in memory),
// opens an upload (a re-chosen file resumes the one already open), sends the missing parts, completes.
"use strict";
(() => {
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));

  class Sha256 {
    constructor() {
      this.h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
      this.buf = new Uint8Array(64); this.bufLen = 0; this.len = 0; this.w = new Uint32Array(64);
    }
    update(data) {
      let i = 0;
      this.len += data.length;
      if (this.bufLen) {
        const n = Math.min(64 - this.bufLen, data.length);
        this.buf.set(data.subarray(0, n), this.bufLen); this.bufLen += n; i = n;
        if (this.bufLen < 64) return;
        this.block(this.buf, 0); this.bufLen = 0;
      }
      for (; i + 64 <= data.length; i += 64) this.block(data, i);
      if (i < data.length) { this.buf.set(data.subarray(i), 0); this.bufLen = data.length - i; }
    }
    block(d, o) {
      const w = this.w;
      for (let t = 0; t < 16; t++) {
        const j = o + 4 * t;
        w[t] = (d[j] << 24) | (d[j + 1] << 16) | (d[j + 2] << 8) | d[j + 3];
      }
      for (let t = 16; t < 64; t++) {
        const a = w[t - 15], b = w[t - 2];
        const s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3), s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10);
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
      }
      let a = this.h[0], b = this.h[1], c = this.h[2], d2 = this.h[3];
      let e = this.h[4], f = this.h[5], g = this.h[6], h = this.h[7];
      for (let t = 0; t < 64; t++) {
        const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t]) | 0;
        const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (d2 + t1) | 0; d2 = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      this.h[0] += a; this.h[1] += b; this.h[2] += c; this.h[3] += d2;
      this.h[4] += e; this.h[5] += f; this.h[6] += g; this.h[7] += h;
    }
    hex() {
      const bits = this.len * 8;
      const pad = new Uint8Array((this.bufLen < 56 ? 64 : 128) - this.bufLen);
      pad[0] = 0x80;
      const n = pad.length, hi = Math.floor(bits / 4294967296), lo = bits >>> 0;
      for (let k = 0; k < 4; k++) { pad[n - 8 + k] = (hi >>> (24 - 8 * k)) & 255; pad[n - 4 + k] = (lo >>> (24 - 8 * k)) & 255; }
      this.update(pad);
      return Array.from(this.h, (x) => x.toString(16).padStart(8, "0")).join("");
    }
  }
  window.bodycamSha256 = Sha256; // for the console's tests

  const form = document.getElementById("upload-form");
  if (!form) return;
  const status = document.getElementById("u-status");
  const bar = document.getElementById("u-progress");
  const say = (text) => { status.textContent = text; };
  const csrf = form.getAttribute("data-csrf");
  const utc = (v) => (v ? (v.length === 16 ? v + ":00" : v) + "Z" : null);
  const problem = async (r) => {
    try { const p = await r.json(); return p.detail || p.title || r.statusText; } catch { return r.statusText; }
  };
  const types = { dav: "video/x-dav", "264": "video/h264", h264: "video/h264", ts: "video/mp2t", avi: "video/x-msvideo",
                  asf: "video/x-ms-asf", wmv: "video/x-ms-wmv", mkv: "video/x-matroska", mp4: "video/mp4",
                  mov: "video/quicktime", wav: "audio/wav", mp3: "audio/mpeg", aac: "audio/aac", m4a: "audio/mp4",
                  opus: "audio/opus", ogg: "audio/ogg" };

  async function hash(file) {
    const sha = new Sha256(), step = 4 * 1024 * 1024;
    for (let at = 0; at < file.size; at += step) {
      sha.update(new Uint8Array(await file.slice(at, at + step).arrayBuffer()));
      bar.value = at / file.size / 2;
      say(`Hashing ${file.name}: ${Math.round((100 * at) / file.size)} %`);
    }
    return sha.hex();
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const go = document.getElementById("u-go");
    go.disabled = true;
    try {
      const data = new FormData(form), file = data.get("file");
      const source = data.get("source"), ext = file.name.split(".").pop().toLowerCase();
      const sha256 = await hash(file);
      const prov = { system: data.get("system") || null, site: data.get("site") || null,
                     exported_by: data.get("exported_by") || null, exported_at: utc(data.get("exported_at")),
                     original_filename: file.name };
      const body = { source, provenance: prov, device_id: data.get("device_id"), officer_id: data.get("officer_id"),
                     filename: file.name.replace(/[\\/\x00-\x1f\x7f]/g, "_").slice(0, 255),
                     content_type: types[ext] || (source === "audio" ? "audio/x-unknown" : "video/x-unknown"),
                     size_bytes: file.size, sha256, recorded_start: utc(data.get("recorded_start")),
                     recorded_end: utc(data.get("recorded_end")), device_clock_at_dock: new Date().toISOString() };
      const headers = { "X-CSRF-Token": csrf };
      let r = await fetch("/ui/upload/uploads", { method: "POST", headers: { ...headers, "Content-Type": "application/json" },
                                                  body: JSON.stringify(body), credentials: "same-origin" });
      if (!r.ok) throw new Error(await problem(r));
      const up = await r.json();
      if (up.duplicate) { say(`Already stored as recording ${up.recording_id}.`); bar.value = 1; return; }
      const have = new Set(up.parts.map((p) => p.n)), size = up.part_size, count = Math.max(1, Math.ceil(file.size / size));
      for (let n = 1; n <= count; n++) {
        if (!have.has(n)) {
          r = await fetch(`/ui/upload/uploads/${up.upload_id}/parts/${n}`, { method: "PUT", headers,
                          body: file.slice((n - 1) * size, n * size), credentials: "same-origin" });
          if (!r.ok) throw new Error(`part ${n}: ${await problem(r)} (choose the file again to carry on)`);
        }
        bar.value = 0.5 + n / count / 2;
        say(`Sent ${n} of ${count} parts${have.size ? ` (${have.size} were already there)` : ""}.`);
      }
      r = await fetch(`/ui/upload/uploads/${up.upload_id}/complete`, { method: "POST", headers, credentials: "same-origin" });
      if (!r.ok) throw new Error(await problem(r));
      const rec = await r.json();
      bar.value = 1;
      status.innerHTML = "";
      const a = document.createElement("a"); a.href = rec.url; a.textContent = `recording ${rec.recording_id}`;
      status.append("Stored and hashed by the server as ", a, ".");
    } catch (e) {
      say(`Upload stopped: ${e.message}`);
    } finally {
      go.disabled = false;
    }
  });
})();
