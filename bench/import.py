"""`bwv import` throughput against the local-disk limit (issue 17: target >= 0.6).

A generated legacy tree (random bytes, bench/work/import/) is
  (c) hashed and copied: `sha256sum` of every file + `cp -r` of the tree + `sync` (the baseline);
  (i) imported by the real `bwv import` in embedded mode (SQLite + local disk) from a CSV manifest without
      sha256 column (the importer hashes each file, then uploads it through the ingest rules, where the server
      hashes what it stored), then `sync`.
Two ratios: the importer's own clock (the rows, as `bwv import` reports its run) and the whole process
(start-up, migration check and the final audit included).

    .venv/bin/python bench/import.py [--files 24] [--size-mb 32] [--with-sha] [--keep]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ for `common`

from common import BWV, MB, WORK, bwv_env, machine_info, mbps, md_table, now_iso, run_bwv, write_report  # noqa: E402

TARGET = 0.6


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def make_tree(root: Path, files: int, size: int, with_sha: bool) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(files):
        p = root / f"{2016 + i % 8}" / f"cam-{i:03d}.mp4"
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists() or p.stat().st_size != size:
            with open(p, "wb") as f:
                left = size
                while left:
                    chunk = os.urandom(min(left, 8 * MB))
                    f.write(chunk)
                    left -= len(chunk)
        row = {"path": str(p.relative_to(root)), "device_id": f"legacy-{i:03d}", "officer_id": "pc-legacy",
               "recorded_start": f"{2016 + i % 8}-05-01T10:00:00Z", "recorded_end": f"{2016 + i % 8}-05-01T10:20:00Z"}
        if with_sha:
            h = hashlib.sha256()
            with open(p, "rb") as f:
                while chunk := f.read(8 * MB):
                    h.update(chunk)
            row["sha256"] = h.hexdigest()
        rows.append(row)
    manifest = root.parent / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return manifest


def drop_caches_hint() -> None:
    subprocess.run(["sync"], check=True)


def baseline(root: Path, dest: Path) -> float:
    shutil.rmtree(dest, ignore_errors=True)
    drop_caches_hint()
    t0 = time.perf_counter()
    files = [str(p) for p in sorted(root.rglob("*")) if p.is_file()]
    subprocess.run(["sha256sum", *files], check=True, capture_output=True)
    subprocess.run(["cp", "-r", str(root), str(dest)], check=True)
    subprocess.run(["sync"], check=True)
    return time.perf_counter() - t0


def import_once(root: Path, manifest: Path, data: Path) -> tuple[float, float, str]:
    shutil.rmtree(data, ignore_errors=True)
    env = {**bwv_env(data), "BWV_ACTOR": "bench-operator", "COLUMNS": "200"}
    run_bwv(["migrate"], env)
    drop_caches_hint()
    t0 = time.perf_counter()
    p = subprocess.run([BWV, "import", str(root), "--manifest", str(manifest)], env=env, capture_output=True,
                       text=True, timeout=3600)
    subprocess.run(["sync"], check=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"bwv import exited {p.returncode}:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    summary = p.stdout.strip().splitlines()[-1]
    m = re.search(r"bytes in ([0-9.]+) s", summary)
    own = float(m.group(1)) if m else wall
    return wall, own, summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=24)
    ap.add_argument("--size-mb", type=int, default=32)
    ap.add_argument("--with-sha", action="store_true", help="the manifest gives each sha256 (one read fewer)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    work = WORK / "import"
    root, dest, data = work / "tree", work / "copy", work / "data"
    size = args.size_mb * MB
    total = args.files * size
    log(f"tree: {args.files} files x {args.size_mb} MB")
    manifest = make_tree(root, args.files, size, args.with_sha)
    base_s = baseline(root, dest)
    log(f"sha256sum + cp + sync: {base_s:.2f} s ({mbps(total, base_s):.0f} MB/s)")
    wall_s, own_s, summary = import_once(root, manifest, data)
    log(f"bwv import: process {wall_s:.2f} s, rows {own_s:.2f} s: {summary}")
    ratio_own, ratio_wall = base_s / own_s, base_s / wall_s
    rows = [["sha256sum + cp -r + sync (baseline)", f"{base_s:.2f}", f"{mbps(total, base_s):.0f}", "1.00"],
            ["bwv import, its own clock (rows)", f"{own_s:.2f}", f"{mbps(total, own_s):.0f}", f"{ratio_own:.2f}"],
            ["bwv import, whole process", f"{wall_s:.2f}", f"{mbps(total, wall_s):.0f}", f"{ratio_wall:.2f}"]]
    md = f"""# bwv import throughput ({now_iso()})

{args.files} files of {args.size_mb} MB ({total // MB} MB), embedded mode (SQLite + local disk), manifest
{'with' if args.with_sha else 'without'} sha256. Target (issue 17): import >= {TARGET} x the local-disk limit.

{md_table(["path", "seconds", "MB/s", "ratio"], rows)}

- Importer clock ratio **{ratio_own:.2f}** ({'meets' if ratio_own >= TARGET else 'misses'} the {TARGET} target);
  whole-process ratio {ratio_wall:.2f}: the process start (imports, settings, migration check) and the
  start/finish audit are a fixed cost that a small tree feels most.
- Without a sha256 in the manifest each file is read twice by the importer (hash, then upload) and once more
  by the server as it hashes what it stored, against sha256sum's one read and cp's one read + write.
- Machine: {machine_info()}
"""
    write_report("import", md, {"files": args.files, "size_mb": args.size_mb, "with_sha": args.with_sha,
                                "baseline_s": base_s, "import_own_s": own_s, "import_wall_s": wall_s,
                                "ratio_own": ratio_own, "ratio_wall": ratio_wall, "summary": summary,
                                "machine": machine_info()})
    print(md)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
