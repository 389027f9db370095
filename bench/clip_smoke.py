"""Quick check of the clip target (DESIGN.md: clips ≥ 0.8× raw ``ffmpeg -ss … -c copy``); not a test.

20 stream-copy cuts (4-10 s each) from a 60 s 720p clip, timed four ways, rounds interleaved so a
busy machine hurts them alike:
  raw      subprocess.run of the very argv service.media.clip builds (no Python around it)
  known    cut(..., source_duration_s=60): what a bundle build does with the stored probe result
  header   cut(...): the source's end read from its mp4 header
  +probe   cut(..., source_duration_s=60) then probe() of the output: the cost of one more
           ffprobe process per clip (why cut() reads the duration from the mp4 header instead)
Prints a table; ``--report NAME`` also writes bench/reports/NAME.md/.json.

    .venv/bin/python bench/clip_smoke.py [--rounds 3] [--report clip-smoke]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from common import machine_info, md_table, now_iso, text_table, write_report  # also puts ROOT on sys.path

from service.media import cut, cut_command, probe
from tests.fixtures.media import cached_clip

SOURCE_S = 60.0


def ranges(n: int = 20) -> list[tuple[float, float]]:
    out = []
    for i in range(n):
        start = round((1.3 + 2.9 * i) % 48, 3)
        out.append((start, start + 4 + (i % 7)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--report", default=None)
    args = ap.parse_args()

    src = str(cached_clip(seconds=SOURCE_S, width=1280, height=720, gop_s=2.0))
    cuts = ranges()
    work = Path(tempfile.mkdtemp(prefix="clip-smoke-"))

    def raw() -> None:
        for i, (a, b) in enumerate(cuts):
            subprocess.run(cut_command(src, str(work / f"raw{i}.mp4"), a, b), check=True,
                           capture_output=True, stdin=subprocess.DEVNULL)

    def known() -> None:
        for i, (a, b) in enumerate(cuts):
            cut(src, str(work / f"known{i}.mp4"), a, b, source_duration_s=SOURCE_S)

    def header() -> None:
        for i, (a, b) in enumerate(cuts):
            cut(src, str(work / f"header{i}.mp4"), a, b)

    def with_probe() -> None:
        for i, (a, b) in enumerate(cuts):
            r = cut(src, str(work / f"probe{i}.mp4"), a, b, source_duration_s=SOURCE_S)
            assert probe(r.path).readable

    ways = {"raw": raw, "known": known, "header": header, "+probe": with_probe}
    times: dict[str, list[float]] = {k: [] for k in ways}
    loads: list[float] = []
    raw()  # warm the page cache and the binaries
    for _ in range(args.rounds):
        for name, fn in ways.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
        loads.append(os.getloadavg()[0])

    base = statistics.median(times["raw"])
    headers = ["way", "median s (20 cuts)", "ms per cut", "ratio raw/way"]
    rows = [[k, f"{statistics.median(v):.3f}", f"{statistics.median(v) / len(cuts) * 1000:.0f}",
             f"{base / statistics.median(v):.2f}"] for k, v in times.items()]
    print(text_table(headers, rows))
    print(f"rounds={args.rounds} load1={loads} nproc={os.cpu_count()}")
    if args.report:
        md = (f"# Clip smoke ({now_iso()})\n\n20 copy cuts (4-10 s) from a 60 s 720p clip, median of "
              f"{args.rounds} interleaved rounds; 1-min load averages {loads}.\n\n"
              + md_table(headers, rows) + "\n\nTarget: ratio ≥ 0.8 (DESIGN.md).\n")
        write_report(args.report, md, {"date": now_iso(), "machine": machine_info(), "times_s": times,
                                       "load1": loads, "cuts": cuts})
    for p in work.iterdir():
        p.unlink()
    work.rmdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
