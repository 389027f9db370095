"""bench/reports/shift.md from the figures bench/shift.py measured (also: re-render a saved JSON).

    .venv/bin/python bench/shift_report.py [bench/reports/shift.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ for `common`

from common import REPORTS, md_table, write_report  # noqa: E402


def _f(v: Any, nd: int = 2) -> str:
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def _util(c: dict[str, Any]) -> str:
    return f"{c['server_cpu_s'] / c['wall_s']:.0%}" if c.get("wall_s") else "?"


def render(r: dict[str, Any]) -> str:
    a = r["args"]
    m = r["machine"]
    one, two = r["configs"]
    for c in (one, two):
        c.setdefault("rec_per_cpu_min", round(c["stored"] / c["server_cpu_s"] * 60, 1) if c["server_cpu_s"] else 0.0)
    rows = []
    for label, key, nd in [("throughput (MB/s)", "mb_s", 3), ("recordings/min", "recordings_per_min", 1),
                           ("wall (s)", "wall_s", 1), ("requests", "requests", 0),
                           ("part p50 (s)", "part_p50_s", 3), ("part p95 (s)", "part_p95_s", 3),
                           ("part p99 (s)", "part_p99_s", 3), ("complete p50 (s)", "complete_p50_s", 3),
                           ("complete p95 (s)", "complete_p95_s", 3), ("complete p99 (s)", "complete_p99_s", 3),
                           ("peak PostgreSQL connections", "peak_pg_connections", 0),
                           ("server peak RSS per replica (MB)", "rss_mb", 1), ("server CPU (s, all replicas)", "server_cpu_s", 1),
                           ("recordings per api CPU-minute (this scale)", "rec_per_cpu_min", 1),
                           ("recordings expected / stored", None, 0), ("lost / duplicated / wrong hash", None, 0),
                           ("docks that gave up", "dock_failures_n", 0)]:
        if label.startswith("recordings expected"):
            rows.append([label, f"{one['expected']} / {one['stored']}", f"{two['expected']} / {two['stored']}"])
        elif label.startswith("lost"):
            rows.append([label, f"{one['lost']} / {one['duplicated']} / {one['wrong']}",
                         f"{two['lost']} / {two['duplicated']} / {two['wrong']}"])
        else:
            rows.append([label, _f(one[key], nd), _f(two[key], nd)])
    errs = sorted(set(one["errors"]) | set(two["errors"]))
    err_rows = [[k, one["errors"].get(k, 0), two["errors"].get(k, 0)] for k in errs] or [["(none)", 0, 0]]
    cal, mod = r["calibration"], r["model"]
    kill = two.get("killed")
    out = [
        "# Shift-change benchmark",
        "",
        f"- Date: {r['date']}",
        f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, Python {m['python']}; the docks, every "
        "replica, the worker, PostgreSQL, Redis and the moto S3 server all share these CPUs (load average at "
        f"the start of each configuration: {', '.join(map(str, r['load_1m']))})",
        f"- Command: `.venv/bin/python {r['command']}`",
        f"- Load: {a['docks']} docks x {a['recordings']} recordings, sizes log-uniform 5-500 MB x {a['scale']} "
        f"({r['planned_mb']} MB in all), parts of {a['part_kb']} KB, {a['inflight']} in flight per dock; docks "
        "alternate between the replicas' addresses and retry on the next one (tests/fixtures/dock.py)",
        "- Each configuration: a fresh PostgreSQL database and bucket, one `bwv worker` on one Redis queue"
        + (f"; in the 2-replica run replica 0 was SIGKILLed after {kill['at_recording']} recordings and restarted 3 s later"
           if kill else ""),
        "",
        md_table(["", "1 replica", "2 replicas"], rows),
        "",
        f"**Ratio 2 replicas / 1 (MB/s): {r['ratio_2_to_1']}.** Zero lost or duplicated recordings: "
        f"**{'yes' if r['zero_loss'] else 'NO'}**.",
        "",
        "Errors the docks saw and retried (op:status:problem or op:exception):",
        "",
        md_table(["kind", "1 replica", "2 replicas"], err_rows),
        "",
        "How to read the errors: `complete:ReadTimeout` is a dock whose complete took longer than its "
        f"--timeout ({a['timeout']} s); its next try meets `complete:409:complete-in-progress` (the first complete "
        "still running, on whichever replica) until that one commits and the retry gets the recording (200). "
        "`ConnectError`/`RemoteProtocolError`/`ReadError` are requests to a SIGKILLed replica. `503:database-busy` "
        "is a request that found every pooled connection in use (it carries Retry-After).",
        "",
        f"The api was not the bottleneck here: its CPU over the wall time was {_util(one)} of one core (1 replica) "
        f"and {_util(two)} (2 replicas). Completes dominate the tails: with parts this small (under S3's 5 MiB "
        "floor) each is staged and a complete reads every part back from the S3 server and writes the recording "
        "again; at most half of a replica's pool (5 of 10) hold completion locks at once, the rest queue.",
        "",
        "## What 2 replicas on this machine show",
        "",
        "With 2 CPUs shared by everything, a second replica cannot add CPU; the ratio measures the overhead of",
        "running two processes (two pools, two sets of connections) against the benefit of a second event loop",
        "when one is blocked. Latency tails are where a second replica helps: a part no longer waits behind",
        "another dock's complete in the same loop. Throughput per core is what scales, and the model below",
        "uses it.",
        "",
        "## Capacity model (api cores for a force)",
        "",
        f"Calibrated on one idle replica: **{cal['cpu_s_per_request'] * 1000:.2f} ms CPU per request** (tiny one-part "
        f"uploads) and **{cal['cpu_s_per_mb'] * 1000:.1f} ms CPU per MB** (a 64 MB upload in 8 MB parts, less its "
        "requests).",
        "",
        md_table(["figure", "value"], [
            ["cameras x recordings docked in the hour", f"{mod['cameras']} x {mod['recordings_per_camera']}"],
            ["mean recording (log-uniform 5-500 MB)", f"{mod['mean_recording_mb']} MB"],
            ["requests per recording (create, 8 MB parts, complete)", mod["requests_per_recording"]],
            ["api CPU per recording", f"{mod['cpu_s_per_recording']} s"],
            ["recordings/min one api core sustains", mod["recordings_per_min_per_core"]],
            ["ingest the force needs", f"{mod['ingest_mb_s']} MB/s"],
            ["**api cores needed**", f"**{mod['api_cores']}**"],
        ]),
        "",
        "Replicas scale out because they share nothing but PostgreSQL, Redis and the bucket (the tests in",
        "tests/integration/test_scaleout.py hold them to it), so cores = replicas x cores each. The database",
        "is then the shared limit: each replica holds up to pool_size + max_overflow connections (see the peak",
        "above), so PostgreSQL's max_connections must exceed replicas x that, or a pooler goes in front.",
        "A pool that is exhausted answers 503 database-busy with Retry-After, which docks retry.",
    ]
    if any(c["dock_failures"] for c in r["configs"]):
        out += ["", "Docks that gave up:", ""] + [f"- {f}" for c in r["configs"] for f in c["dock_failures"]]
    return "\n".join(out)


def write(name: str, md: str, data: dict[str, Any]) -> None:
    write_report(name, md, data)


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else REPORTS / "shift.json"
    data = json.loads(path.read_text())
    print(render(data))
