"""CPS bundle build against DESIGN.md "Performance targets" ("Clips and bundles: ≥ 0.8× raw
`ffmpeg -ss … -c copy`; ZIP streamed, never built in memory").

A bundle of 20 clips from 10 one-minute 720p recordings (25 fps, key frame every 2 s; generated once by
service.media.synth.make_clip and cached in bench/work/), two ranges per recording (5–20 s, 30–50 s):
  (a) raw: `ffmpeg -nostdin -v error -ss A -to B -i SRC -map 0:v? -map 0:a? -c copy -movflags +faststart`
      for each clip, one after another, then Python's zipfile (ZIP_STORED) of the outputs; timed in total;
  (b) bodycam: `bwv serve` in embedded mode (SQLite + local disk, in-process jobs); the recordings are
      uploaded as a dock, a case gets the same 20 exhibits, and POST /v1/cases/{id}/bundles → status
      ready is timed (GET /v1/bundles/{id} polled every 0.1 s). The ZIP is then downloaded and checked.
Target: a/b ≥ 0.8. Also reported: the server's (the worker's) peak RSS during the build, the bundle size,
and, for information, what SHA-256 re-verification of the sources costs (the build re-hashes the source
of every exhibit before cutting it).

    .venv/bin/python bench/bundle.py [--clips 20] [--repeat N] [--keep] [--report bundle | --no-report]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ for `common`, `ingest`

import httpx  # noqa: E402
from common import (  # noqa: E402
    MB,
    WORK,
    BwvServer,
    RssSampler,
    bwv_env,
    machine_info,
    md_table,
    now_iso,
    proc_status_kb,
    run_bwv,
    text_table,
    write_report,
)
from ingest import dock_upload  # noqa: E402

TARGET = 0.8
SOURCE_S = 60
WIDTH, HEIGHT, FPS, GOP_S = 1280, 720, 25, 2.0
RANGES = ((5.0, 20.0), (30.0, 50.0))  # per recording
SRC_DIR = WORK / "bundle-src"
POLL_S = 0.1


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---- sources -----------------------------------------------------------------------------------

def sources(n: int) -> list[Path]:
    """``n`` one-minute 720p recordings (cached; a different audio tone each, so distinct SHA-256s)."""
    from service.media.synth import make_clip

    out = []
    for i in range(n):
        path = SRC_DIR / f"rec{i:02d}-{SOURCE_S}s-{WIDTH}x{HEIGHT}-{FPS}fps-gop{GOP_S:g}.mp4"
        if not (path.exists() and path.stat().st_size > 0):
            tmp = path.with_name(".tmp-" + path.name)
            t0 = time.perf_counter()
            make_clip(tmp, seconds=SOURCE_S, width=WIDTH, height=HEIGHT, fps=FPS, gop_s=GOP_S,
                      tone_hz=300 + 40 * i)
            os.replace(tmp, path)
            log(f"made {path.name} ({path.stat().st_size / MB:.1f} MB) in {time.perf_counter() - t0:.1f}s")
        out.append(path)
    return out


def clip_plan(srcs: list[Path], nclips: int) -> list[tuple[int, float, float]]:
    """(source index, start, end) for each exhibit: RANGES for each source in turn."""
    plan = [(i, a, b) for i in range(len(srcs)) for a, b in RANGES]
    return plan[:nclips]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MB):
            h.update(chunk)
    return h.hexdigest()


# ---- (a) raw ffmpeg + zipfile ------------------------------------------------------------------

def raw_run(srcs: list[Path], plan: list[tuple[int, float, float]], run_dir: Path) -> dict[str, Any]:
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    zip_path = run_dir.with_suffix(".zip")
    zip_path.unlink(missing_ok=True)
    os.sync()
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    outs = []
    for n, (i, a, b) in enumerate(plan, start=1):
        out = run_dir / f"B-{n}.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-ss", f"{a:g}", "-to", f"{b:g}", "-i", str(srcs[i]),
                        "-map", "0:v?", "-map", "0:a?", "-c", "copy", "-movflags", "+faststart", str(out)],
                       check=True, stdin=subprocess.DEVNULL)
        outs.append(out)
    t_cut = time.perf_counter()
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_STORED) as z:
        for out in outs:
            z.write(out, out.name)
    t_done = time.perf_counter()
    # Information only (not timed): bodycam's local store fsyncs the bundle before renaming it in place.
    with open(zip_path, "rb+") as f:
        t = time.perf_counter()
        os.fsync(f.fileno())
        fsync_s = time.perf_counter() - t
    clips_bytes = sum(o.stat().st_size for o in outs)
    res = {"seconds": t_done - t0, "cut_s": t_cut - t0, "zip_s": t_done - t_cut, "zip_fsync_s_info": fsync_s,
           "clips_bytes": clips_bytes, "zip_bytes": zip_path.stat().st_size, "loadavg_1m": load}
    shutil.rmtree(run_dir, ignore_errors=True)
    zip_path.unlink(missing_ok=True)
    return res


# ---- (b) bodycam -------------------------------------------------------------------------------

def reset_hwm(pid: int) -> bool:
    """Reset VmHWM of ``pid`` to its current RSS (writing 5 to clear_refs), so the peak is the build's."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Bodycam:
    """An embedded `bwv serve` with the recordings uploaded and a case holding the exhibits."""

    def __init__(self, srcs: list[Path], plan: list[tuple[int, float, float]], data_dir: Path) -> None:
        self.srcs, self.plan, self.data_dir = srcs, plan, data_dir
        self.server: BwvServer | None = None
        self.case_id = ""
        self.rec_ids: list[str] = []
        self.http: httpx.Client | None = None

    def start(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True)  # `bwv dock register` migrates SQLite before it makes BWV_DATA_DIR
        env = bwv_env(self.data_dir)
        dock = run_bwv(["dock", "register", "bench-dock"], env).strip().splitlines()[-1]
        token = run_bwv(["token", "issue", "--sub", "bench-dc", "--role", "disclosure", "--ttl", "14400"],
                        env).strip().splitlines()[-1]
        self.server = BwvServer(env, WORK / "bwv-bundle.log").start()
        log(f"bwv (embedded: SQLite + disk) at {self.server.url}, pid {self.server.pid}")
        self.http = httpx.Client(base_url=self.server.url, headers={"Authorization": f"Bearer {token}"},
                                 timeout=httpx.Timeout(120.0))
        used = sorted({i for i, _, _ in self.plan})
        t0 = time.perf_counter()
        for i in used:
            src = self.srcs[i]
            res = dock_upload(self.server.url, dock, src, src.stat().st_size, sha256_file(src), 8 * MB, 2,
                              f"bench-cam-{i:02d}")
            self.rec_ids.append(res["recording_id"])
        ids = dict(zip(used, self.rec_ids, strict=True))
        log(f"uploaded {len(used)} recordings in {time.perf_counter() - t0:.1f}s; waiting for the media probe")
        deadline = time.monotonic() + 300
        for rid in self.rec_ids:
            while True:
                r = self.http.get(f"/v1/recordings/{rid}")
                r.raise_for_status()
                media = r.json()["media"]
                if media.get("readable"):
                    break
                if r.json()["media_status"] not in ("pending", "probing") and media.get("readable") is False:
                    raise RuntimeError(f"recording {rid} probed unreadable: {r.json()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"recording {rid} not probed in time: {r.json()}")
                time.sleep(0.2)
        r = self.http.post("/v1/cases", json={"urn": "BENCH-1", "title": "Bundle benchmark"})
        if r.status_code != 201:
            raise RuntimeError(f"create case answered {r.status_code}: {r.text}")
        self.case_id = r.json()["id"]
        for n, (i, a, b) in enumerate(self.plan, start=1):
            r = self.http.post(f"/v1/cases/{self.case_id}/items",
                               json={"recording_id": ids[i], "exhibit_ref": f"B/{n}", "clip_start_s": a,
                                     "clip_end_s": b})
            if r.status_code != 201:
                raise RuntimeError(f"add item B/{n} answered {r.status_code}: {r.text}")
        log(f"case BENCH-1 ({self.case_id}) holds {len(self.plan)} exhibits")

    def build(self, out_zip: Path) -> dict[str, Any]:
        assert self.server is not None and self.http is not None
        pid = self.server.pid
        time.sleep(1.0)  # let the server settle (probe jobs done, no write-back pending)
        os.sync()
        idle_kb = proc_status_kb(pid, "VmRSS") or 0
        hwm_reset = reset_hwm(pid)
        sampler = RssSampler(pid, POLL_S)
        sampler.start()
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        r = self.http.post(f"/v1/cases/{self.case_id}/bundles")
        if r.status_code != 202:
            sampler.stop()
            raise RuntimeError(f"request bundle answered {r.status_code}: {r.text}")
        bid = r.json()["bundle_id"]
        done_at: dict[int, float] = {}  # items_done -> first seen (s after POST)
        deadline = time.monotonic() + 1800
        while True:
            st = self.http.get(f"/v1/bundles/{bid}").json()
            now = time.perf_counter() - t0
            done_at.setdefault(st["items_done"], now)
            if st["status"] in ("ready", "failed"):
                break
            if time.monotonic() > deadline:
                sampler.stop()
                raise RuntimeError(f"bundle {bid} not ready after 30 min: {st}")
            time.sleep(POLL_S)
        secs = time.perf_counter() - t0
        rss_max, hwm = sampler.stop()
        if st["status"] != "ready":
            raise RuntimeError(f"bundle {bid} {st['status']}: {st.get('error')}\n{self.server.log_tail()}")
        n = len(self.plan)
        all_cut = done_at.get(n, secs)
        check = self.download_and_check(bid, st, out_zip)
        return {"seconds": secs, "bundle_id": bid, "size_bytes": st["size_bytes"], "sha256": st["sha256"],
                "clips_phase_s": all_cut, "zip_phase_s": secs - all_cut,
                "per_item_s": (all_cut / n) if n else None,
                "items_done_at_s": {str(k): round(v, 3) for k, v in sorted(done_at.items())},
                "rss_idle_mb": idle_kb / 1024, "rss_max_mb": rss_max, "vm_hwm_mb": hwm, "hwm_reset": hwm_reset,
                "rss_samples": sampler.samples, "loadavg_1m": load, **check}

    def download_and_check(self, bid: str, st: dict[str, Any], out_zip: Path) -> dict[str, Any]:
        assert self.http is not None
        h = hashlib.sha256()
        with self.http.stream("GET", f"/v1/bundles/{bid}/download") as r, open(out_zip, "wb") as f:
            if r.status_code != 200:
                raise RuntimeError(f"download answered {r.status_code}: {r.read()[:500]!r}")
            for chunk in r.iter_bytes(MB):
                h.update(chunk)
                f.write(chunk)
        if h.hexdigest() != st["sha256"] or out_zip.stat().st_size != st["size_bytes"]:
            raise RuntimeError(f"downloaded bundle does not match: sha256 {h.hexdigest()} vs {st['sha256']}")
        with zipfile.ZipFile(out_zip) as z:
            bad = z.testzip()
            if bad is not None:
                raise RuntimeError(f"bundle member {bad} fails its CRC")
            names = z.namelist()
            clips = [x for x in names if x.endswith(".mp4")]
            manifest = json.loads(z.read("manifest.json"))
            stored = all(z.getinfo(c).compress_type == zipfile.ZIP_STORED for c in clips)
            clip_bytes = sum(z.getinfo(c).file_size for c in clips)
        want = {f"B-{n}.mp4" for n in range(1, len(self.plan) + 1)}
        if set(clips) != want or len(manifest["exhibits"]) != len(self.plan):
            raise RuntimeError(f"bundle holds {sorted(clips)} / {len(manifest['exhibits'])} exhibits, "
                               f"expected {sorted(want)}")
        return {"zip_ok": True, "members": len(names), "clips": len(clips), "clips_stored": stored,
                "clips_bytes": clip_bytes}

    def stop(self) -> None:
        if self.http is not None:
            self.http.close()
        if self.server is not None:
            self.server.stop()


# ---- information: what re-verifying the sources costs ------------------------------------------

def hash_costs(srcs: list[Path], plan: list[tuple[int, float, float]]) -> dict[str, Any]:
    used = sorted({i for i, _, _ in plan})
    per_src = {}
    for i in used:
        t = time.perf_counter()
        sha256_file(srcs[i])
        per_src[i] = time.perf_counter() - t
    # sha256 + crc32 of one clip-sized read, as _digest does per clip, is small next to this.
    return {"sources": len(used), "source_bytes": sum(srcs[i].stat().st_size for i in used),
            "sha256_each_source_once_s": sum(per_src.values()),
            "sha256_per_exhibit_s": sum(per_src[i] for i, _, _ in plan)}


def crc_sha_clips_s(zip_path: Path) -> float:
    """sha256 + crc32 of every clip (what the build's _digest pass costs), read from the bundle."""
    t = time.perf_counter()
    with zipfile.ZipFile(zip_path) as z:
        for info in z.infolist():
            if info.filename.endswith(".mp4"):
                sha, crc = hashlib.sha256(), 0
                with z.open(info) as f:
                    while chunk := f.read(MB):
                        sha.update(chunk)
                        crc = zlib.crc32(chunk, crc)
    return time.perf_counter() - t


# ---- main --------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=int, default=20, help="exhibits in the bundle (2 per recording; default 20)")
    p.add_argument("--repeat", type=int, default=1, help="best of N runs of each side, interleaved")
    p.add_argument("--keep", action="store_true", help="keep the embedded data dir and the downloaded ZIP")
    p.add_argument("--report", default="bundle", help="report name under bench/reports/ (default bundle)")
    p.add_argument("--no-report", action="store_true", help="print the table only (for quick debug runs)")
    args = p.parse_args(argv)
    if args.clips < 1:
        p.error("--clips must be >= 1")

    WORK.mkdir(parents=True, exist_ok=True)
    nsrc = -(-args.clips // len(RANGES))
    srcs = sources(nsrc)
    plan = clip_plan(srcs, args.clips)
    log(f"{len(plan)} clips from {nsrc} recordings "
        f"({sum(s.stat().st_size for s in srcs) / MB:.1f} MB of sources)")

    data_dir = WORK / "bundle-embedded-data"
    out_zip = WORK / "bundle-downloaded.zip"
    results: dict[str, Any] = {"a": {"runs": []}, "b": {"runs": []}}
    bc = Bodycam(srcs, plan, data_dir)
    with contextlib.ExitStack() as stack:
        stack.callback(bc.stop)
        bc.start()
        for k in range(args.repeat):
            ra = raw_run(srcs, plan, WORK / "bundle-raw")
            log(f"(a raw ffmpeg + zipfile) run {k + 1}: {ra['seconds']:.2f}s "
                f"(cuts {ra['cut_s']:.2f}s, zip {ra['zip_s']:.2f}s)")
            results["a"]["runs"].append(ra)
            rb = bc.build(out_zip)
            log(f"(b bodycam) run {k + 1}: {rb['seconds']:.2f}s (clips {rb['clips_phase_s']:.2f}s = "
                f"{rb['per_item_s']:.2f}s/exhibit, zip {rb['zip_phase_s']:.2f}s), "
                f"{rb['size_bytes'] / MB:.1f} MB, HWM {rb['vm_hwm_mb'] or 0:.0f} MB")
            results["b"]["runs"].append(rb)
        results["hash"] = hash_costs(srcs, plan)
        results["hash"]["sha256_crc32_clips_s"] = crc_sha_clips_s(out_zip)
    for k in "ab":
        results[k]["best"] = min(results[k]["runs"], key=lambda r: r["seconds"])

    report(args, srcs, plan, results)
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
        out_zip.unlink(missing_ok=True)
        (WORK / "bwv-bundle.log").unlink(missing_ok=True)
    return 0 if results["ok"] else 1


def report(args, srcs: list[Path], plan, results: dict[str, Any]) -> None:
    a, b = results["a"]["best"], results["b"]["best"]
    ratio = a["seconds"] / b["seconds"]
    rss = max(b["rss_max_mb"], b["vm_hwm_mb"] or 0)
    hsh = results["hash"]
    results["ratio"] = ratio
    results["checks"] = {"a/b >= 0.8": ratio >= TARGET}
    results["ok"] = all(results["checks"].values())
    n, nsrc = len(plan), len({i for i, _, _ in plan})
    src_mb = sum(srcs[i].stat().st_size for i in {i for i, _, _ in plan}) / MB

    headers = ["", "measurement", "seconds", "load 1m", "detail"]
    rows = [
        ["a", "raw ffmpeg -c copy x N + zipfile (stored)", f"{a['seconds']:.2f}", f"{a['loadavg_1m']:.1f}",
         f"cuts {a['cut_s']:.2f}s, zip {a['zip_s']:.2f}s; {a['zip_bytes'] / MB:.1f} MB"],
        ["b", "bodycam bundle (POST → ready)", f"{b['seconds']:.2f}", f"{b['loadavg_1m']:.1f}",
         f"exhibits {b['clips_phase_s']:.2f}s ({b['per_item_s']:.2f}s each), ZIP {b['zip_phase_s']:.2f}s; "
         f"{b['size_bytes'] / MB:.1f} MB"],
        ["i", "info: sha256 of the sources, each once", f"{hsh['sha256_each_source_once_s']:.2f}", "",
         f"{hsh['sources']} sources, {hsh['source_bytes'] / MB:.0f} MB (Python hashlib)"],
        ["i", "info: sha256 of each exhibit's source", f"{hsh['sha256_per_exhibit_s']:.2f}", "",
         f"what the build re-hashes: {n} exhibits → {n} source reads"],
        ["i", "info: sha256 + crc32 of the clips", f"{hsh['sha256_crc32_clips_s']:.2f}", "",
         f"{b['clips_bytes'] / MB:.1f} MB (the build's per-clip digest pass)"],
    ]
    fig_headers = ["figure", "value", "target", "result"]
    figs = [
        ["baseline a (s)", f"{a['seconds']:.2f}", "", ""],
        ["bodycam b (s)", f"{b['seconds']:.2f}", "", ""],
        ["ratio a/b", f"{ratio:.2f}", ">= 0.8", "met" if ratio >= TARGET else "NOT met"],
        ["ratio a/(b − source re-hash) (info)",
         f"{a['seconds'] / max(1e-9, b['seconds'] - hsh['sha256_per_exhibit_s']):.2f}", "(>= 0.8)", ""],
        ["server peak RSS during build (MB)",
         f"{rss:.0f} (VmHWM {b['vm_hwm_mb'] or 0:.0f}{' reset at POST' if b['hwm_reset'] else ''}, "
         f"VmRSS max {b['rss_max_mb']:.0f}, idle {b['rss_idle_mb']:.0f})", "", ""],
        ["bundle size (MB)", f"{b['size_bytes'] / MB:.1f} ({b['members']} members, {b['clips']} clips stored)",
         "", ""],
    ]
    print()
    print(text_table(headers, rows))
    print()
    print(text_table(fig_headers, figs))
    print()
    if args.no_report:
        return

    m = machine_info()
    info = {"date": now_iso(), "machine": m, "clips": n, "recordings": nsrc, "source_s": SOURCE_S,
            "video": f"{WIDTH}x{HEIGHT} {FPS} fps, H.264 ultrafast + AAC, key frame every {GOP_S:g} s",
            "ranges_s": RANGES, "repeat": args.repeat}
    results["info"] = info
    md = f"""# Bundle benchmark

- Date: {info['date']}
- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, Python {m['python']}, Linux {m['kernel']}
- Sources: {nsrc} recordings of {SOURCE_S} s, {info['video']} (service.media.synth.make_clip),
  {src_mb:.0f} MB in all (MB = 2^20 bytes)
- Exhibits: {n}, ranges {', '.join(f'{x:g}–{y:g} s' for x, y in RANGES)} of each recording, stream copy
- Best of {args.repeat} run(s) per side, interleaved
- Command: `.venv/bin/python bench/bundle.py --clips {n} --repeat {args.repeat}`

{md_table(headers, rows)}

{md_table(fig_headers, figs)}

**Target a/b ≥ 0.8: {"met" if results["ok"] else "NOT met"}.**

Notes:
- (a) runs `ffmpeg -nostdin -v error -ss A -to B -i SRC -map 0:v? -map 0:a? -c copy -movflags +faststart`
  per clip, sequentially, then `zipfile.ZipFile(..., ZIP_STORED)` of the outputs; no fsync
  (an fsync of its ZIP took {a['zip_fsync_s_info']:.2f}s afterwards, not counted).
- (b) is `bwv serve` in embedded mode (SQLite, local disk, in-process jobs), the recordings uploaded as a
  dock beforehand (not timed). Timed from POST /v1/cases/{{id}}/bundles to status `ready` seen by polling
  GET /v1/bundles/{{id}} every {POLL_S:g} s (so up to {POLL_S:g} s late). The build per exhibit: checks,
  SHA-256 of the whole source, an ffmpeg copy cut (`avoid_negative_ts make_zero`), SHA-256 + CRC-32 of the
  clip, a DB transaction with an audit event; then the ZIP (clips stored, manifests deflated) streamed
  into the store, fsynced and renamed into place. "exhibits" is POST → items_done = N, "ZIP" the rest.
- The downloaded ZIP's SHA-256 matched the bundle's, `testzip()` passed, and it held {b['clips']} clips
  + manifest.json, manifest.csv, continuity.csv.
- Peak RSS is the `bwv serve` process (the in-process worker runs the build): VmHWM reset just before the
  POST (`/proc/PID/clear_refs` = 5) and read after `ready`, and VmRSS polled every {POLL_S:g} s. The ffmpeg
  child processes are not included.
- The "info" rows time the same hashing in this process (Python hashlib, 1 MB reads) for scale.
- The page cache could not be dropped: sources are in memory for both sides.
"""
    md_path, js_path = write_report(args.report, md, results)
    log(f"report: {md_path} and {js_path}")


if __name__ == "__main__":
    sys.exit(main())
