"""Web console pages against the API calls they are made of (DESIGN.md has no console target yet; this
measures what rendering costs on top of the API, so a slow page is seen before an officer sees it).

`bwv demo` + `bwv serve` in embedded mode (SQLite + local disk, as `make run`), plus N docked files that
ffprobe cannot read (each is kept and raises an alert, so the footage and alert pages have full pages).
For each page, the median of R sequential GETs of the page (signed in with a session cookie) and of the
API call it makes (the same person's bearer token): ratio = API time / page time (1.0 = rendering is free).

    .venv/bin/python bench/console.py [--recordings 120] [--repeat 30] [--report console | --no-report]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ for `common`

import httpx  # noqa: E402
from common import (  # noqa: E402
    WORK,
    BwvServer,
    bwv_env,
    machine_info,
    md_table,
    now_iso,
    run_bwv,
    text_table,
    write_report,
)

PASSWORD = "bodycam-demo"
# (who, console page, the API call behind it, roles for the API token)
PAGES = [
    ("pc-101", "/ui/officer", "/v1/recordings?time_basis=trusted", ["officer"]),
    ("sgt-1", "/ui/recordings", "/v1/recordings", ["supervisor"]),
    ("sgt-1", "/ui/supervisor/alerts", "/v1/alerts?open=true", ["supervisor"]),
    ("sgt-1", "/ui/supervisor/devices", "/v1/devices", ["supervisor"]),
    ("auditor-1", "/ui/audit", "/v1/audit?limit=100", ["auditor"]),
    ("sar-1", "/ui/sar", "/v1/sars?limit=500", ["sar_handler"]),
    ("anyone", "/transparency", "/v1/stats", []),
]


def _cookies(r: httpx.Response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h.split("=", 1)[1].split(";", 1)[0] for h in r.headers.get_list("set-cookie")}


def sign_in(base: str, user: str) -> dict[str, str]:
    with httpx.Client(base_url=base) as c:
        r = c.get("/ui/login")
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', r.text).group(1)
        r = c.post("/ui/login", data={"username": user, "password": PASSWORD, "csrf_token": token},
                   headers={"Cookie": f"bwv_pre={_cookies(r)['bwv_pre']}"})
        assert r.status_code == 303, r.text
        return {"Cookie": f"bwv_session={_cookies(r)['bwv_session']}"}


def dock_junk(base: str, dock_token: str, n: int) -> None:
    """Files a camera could write when it fails: kept, catalogued, alerted."""
    h = {"Authorization": f"Bearer {dock_token}"}
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with httpx.Client(base_url=base, headers=h, timeout=60) as c:
        for i in range(n):
            data = hashlib.sha256(f"bench-{i}-{time.time()}".encode()).digest() * 512
            meta = {"device_id": f"cam-b{i % 40:03d}", "officer_id": "pc-101" if i % 2 else "pc-102",
                    "filename": f"b{i}.mp4", "content_type": "video/mp4", "size_bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(), "recorded_start": now, "recorded_end": now,
                    "device_clock_at_dock": now}
            up = c.post("/v1/uploads", json=meta).json()["upload_id"]
            c.put(f"/v1/uploads/{up}/parts/1", content=data).raise_for_status()
            c.post(f"/v1/uploads/{up}/complete").raise_for_status()


def median_ms(client: httpx.Client, url: str, headers: dict[str, str], repeat: int) -> float:
    times = []
    for _ in range(repeat + 2):
        t = time.perf_counter()
        r = client.get(url, headers=headers)
        times.append(time.perf_counter() - t)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return statistics.median(times[2:]) * 1000  # the first two warm caches


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recordings", type=int, default=120)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--report", default="console")
    ap.add_argument("--no-report", action="store_true")
    args = ap.parse_args()
    data = WORK / "console"
    import shutil

    shutil.rmtree(data, ignore_errors=True)
    env = bwv_env(data / "data")
    run_bwv(["demo"], env, timeout=300)
    with BwvServer(env, data / "serve.log") as server:
        dock_token = run_bwv(["dock", "register", "bench-dock"], env).strip()
        dock_junk(server.url, dock_token, args.recordings)
        rows = []
        with httpx.Client(base_url=server.url, timeout=60) as c:
            for user, page, api, roles in PAGES:
                cookie = sign_in(server.url, user) if roles else {}
                bearer = {}
                if roles:
                    token = run_bwv(["token", "issue", "--sub", user, *[x for r in roles for x in ("--role", r)]], env)
                    bearer = {"Authorization": f"Bearer {token.strip()}"}
                page_ms = median_ms(c, page, cookie, args.repeat)
                api_ms = median_ms(c, api, bearer, args.repeat)
                rows.append([page, user, round(api_ms, 1), round(page_ms, 1), round(api_ms / page_ms, 2)])
    headers = ["page", "as", "API ms (median)", "page ms (median)", "ratio API/page"]
    print(text_table(headers, rows))
    worst = min(r[4] for r in rows)
    print(f"\nworst ratio: {worst:.2f} (1.0 = the page costs no more than its API call)")
    if not args.no_report:
        md = (f"# Console pages vs their API calls\n\n{now_iso()} · {machine_info()}\n\n"
              f"Embedded mode (`bwv demo` + {args.recordings} extra docked files), median of {args.repeat} "
              f"sequential GETs each.\n\n{md_table(headers, rows)}\n\nWorst ratio: {worst:.2f}.\n")
        write_report(args.report, md, {"at": now_iso(), "recordings": args.recordings, "repeat": args.repeat,
                                       "rows": rows, "worst_ratio": worst, "machine": machine_info()})


if __name__ == "__main__":
    main()
