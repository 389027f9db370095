"""Shift change: many docks uploading at once against 1 and then 2 api replicas (issue 16, point 2).

N simulated docks (default 100) each upload R recordings (default 10) whose sizes are drawn log-uniformly
from 5-500 MB and multiplied by --scale (this machine cannot move a real shift's terabytes), in parts of
--part-kb with 4 parts in flight, retrying and resuming as real docks do (tests/fixtures/dock.py). The docks
alternate between the replicas' addresses (clients that round-robin, as behind a plain balancer). Every
configuration gets a fresh PostgreSQL database, a fresh bucket on one moto S3 server, one Redis queue and one
`bwv worker`. Measured per configuration: MB/s, recordings/min, p50/p95/p99 of part and complete latencies,
errors by kind, the peak of PostgreSQL connections, each replica's peak RSS and CPU seconds. Hard check:
every recording stored exactly once with its declared size and SHA-256 (exit 1 otherwise).

A calibration (1 replica, idle) measures the server's CPU per request and per MB, from which the report models
the api cores a force needs at full file sizes. With --kill, one replica of the 2-replica run is SIGKILLed a
third of the way in and restarted 3 s later: the zero-loss check must still hold.

    .venv/bin/python bench/shift.py [--docks 100] [--recordings 10] [--scale 0.002] [--part-kb 256] [--kill]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import math
import os
import random
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ for `common`

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from common import (  # noqa: E402
    AWS_ENV,
    MB,
    PG_HOST,
    PG_PORT,
    PG_USER,
    WORK,
    BwvServer,
    RssSampler,
    bwv_env,
    fresh_pg_database,
    machine_info,
    now_iso,
    run_bwv,
)
from shift_report import render, write  # noqa: E402

from tests.fixtures.dock import Dock, meta  # noqa: E402
from tests.fixtures.s3 import make_bucket, start_moto_server, stop_moto_server  # noqa: E402

REDIS_URL = os.environ.get("BWV_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SIZE_MIN_MB, SIZE_MAX_MB = 5, 500  # a shift's recordings, before --scale
REAL_PART_MB = 8  # what a real dock sends (the server's default part_size)
TICKS = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def real_size_mb(rng: random.Random) -> float:
    """Log-uniform 5-500 MB: many short clips, a few whole-incident recordings."""
    return math.exp(rng.uniform(math.log(SIZE_MIN_MB), math.log(SIZE_MAX_MB)))


MEAN_REAL_MB = (SIZE_MAX_MB - SIZE_MIN_MB) / math.log(SIZE_MAX_MB / SIZE_MIN_MB)


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
    except (OSError, ValueError, IndexError):
        return 0.0


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


class ConnSampler(threading.Thread):
    """Peak number of PostgreSQL backends connected to one database, sampled every 0.25 s."""

    def __init__(self, database: str) -> None:
        super().__init__(daemon=True)
        self.database, self.peak, self._halt = database, 0, threading.Event()

    def run(self) -> None:
        asyncio.run(self._loop())

    async def _loop(self) -> None:
        conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
        try:
            while not self._halt.is_set():
                n = await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", self.database)
                self.peak = max(self.peak, int(n))
                await asyncio.sleep(0.25)
        finally:
            await conn.close()

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak


class Blobs:
    """Distinct recordings without generating gigabytes: slices of one random pool, each made unique by a
    16-byte prefix of its own (so every recording has its own SHA-256)."""

    def __init__(self, seed: int, pool_mb: int = 16) -> None:
        self.rng = random.Random(seed)
        self.pool = self.rng.randbytes(pool_mb * MB)

    def make(self, tag: int, size: int) -> bytes:
        size = max(size, 32)
        off = self.rng.randrange(0, max(1, len(self.pool) - size))
        body = self.pool[off:off + size - 16]
        if len(body) < size - 16:  # bigger than the pool: repeat it
            body = (self.pool * (size // len(self.pool) + 1))[:size - 16]
        return tag.to_bytes(16, "big") + body


async def register_docks(env: dict[str, str], n: int) -> list[dict[str, str]]:
    from service.auth import service as auth
    from service.config import Settings
    from service.context import build_context
    from service.db import transaction
    from tests.helpers import ADMIN

    st = Settings(data_dir=Path(env["BWV_DATA_DIR"]), secret_key=env["BWV_SECRET_KEY"],
                  policy_dir=Path(env["BWV_POLICY_DIR"]), database_url=env["BWV_DATABASE_URL"],
                  storage_url=env["BWV_STORAGE_URL"], s3_endpoint_url=env["BWV_S3_ENDPOINT_URL"])
    ctx = build_context(st)
    out = []
    try:
        async with transaction(ctx.sessions) as s:
            for i in range(n):
                token = await auth.register_dock(s, ctx.tokens, ADMIN, f"dock-{i:04d}", "shift-bench")
                out.append({"Authorization": f"Bearer {token}"})
    finally:
        await ctx.engine.dispose()
    return out


async def check_stored(env: dict[str, str], expected: dict[str, tuple[str, int]]) -> dict[str, int]:
    """Zero lost, zero duplicated: each device's one recording has the declared hash and size."""
    db = env["BWV_DATABASE_URL"].rsplit("/", 1)[1]
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=db)
    try:
        rows = await conn.fetch("SELECT device_id, sha256, size_bytes FROM recordings")
    finally:
        await conn.close()
    per = Counter(r["device_id"] for r in rows)
    lost = sum(1 for d in expected if per[d] == 0)
    dup = sum(n - 1 for n in per.values() if n > 1)
    wrong = sum(1 for r in rows if r["device_id"] in expected and (r["sha256"], r["size_bytes"]) != expected[r["device_id"]])
    return {"expected": len(expected), "stored": len(rows), "lost": lost, "duplicated": dup, "wrong": wrong}


def plan(args: argparse.Namespace) -> list[list[tuple[str, int, int]]]:
    """Per dock: (device id, tag, scaled size in bytes) of each recording; the same for every configuration."""
    rng = random.Random(args.seed)
    work, tag = [], 0
    for d in range(args.docks):
        items = []
        for r in range(args.recordings):
            tag += 1
            items.append((f"cam-{d:04d}-{r:02d}", tag, max(1024, int(real_size_mb(rng) * MB * args.scale))))
        work.append(items)
    return work


async def drive(urls: list[str], headers: list[dict[str, str]], work: list[list[tuple[str, int, int]]],
                blobs: Blobs, args: argparse.Namespace, on_progress=None) -> tuple[list[Dock], dict, float, int]:
    docks = [Dock(lambda: urls, h, part_size=args.part_kb * 1024, parallel=args.inflight, max_attempts=60,
                  timeout=args.timeout, backoff_cap=2.0) for h in headers]
    expected: dict[str, tuple[str, int]] = {}
    failures: list[str] = []
    done = 0
    total = sum(len(w) for w in work)
    sent_bytes = 0

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=args.docks * args.inflight + 16)) as client:

        async def one(dock: Dock, items: list[tuple[str, int, int]]) -> None:
            nonlocal done, sent_bytes
            for device, tag, size in items:
                data = blobs.make(tag, size)
                expected[device] = (hashlib.sha256(data).hexdigest(), len(data))
                try:
                    await dock.upload(client, data, meta(data, device))
                    sent_bytes += len(data)
                except Exception as e:  # counted; the zero-loss check decides the run
                    failures.append(f"{device}: {type(e).__name__}: {str(e)[:300]}")
                done += 1
                if on_progress:
                    on_progress(done, total)

        t0 = time.monotonic()
        await asyncio.gather(*(one(d, w) for d, w in zip(docks, work, strict=True)))
        wall = time.monotonic() - t0
    return docks, {"expected": expected, "failures": failures}, wall, sent_bytes


def summarize(docks: list[Dock], wall: float, nbytes: int, n_recordings: int) -> dict[str, Any]:
    part = [s.seconds for d in docks for s in d.sent if s.op == "part" and s.status == 200]
    comp = [s.seconds for d in docks for s in d.sent if s.op == "complete" and s.status in (200, 201)]
    errors = Counter()
    for d in docks:
        errors.update(d.errors)
    per_replica = Counter(s.url for d in docks for s in d.sent)
    requests = sum(len(d.sent) for d in docks)
    return {"wall_s": round(wall, 2), "mb": round(nbytes / MB, 2), "mb_s": round(nbytes / MB / wall, 3),
            "recordings_per_min": round(n_recordings / wall * 60, 1), "requests": requests,
            "part_p50_s": round(pct(part, 50), 3), "part_p95_s": round(pct(part, 95), 3),
            "part_p99_s": round(pct(part, 99), 3), "complete_p50_s": round(pct(comp, 50), 3),
            "complete_p95_s": round(pct(comp, 95), 3), "complete_p99_s": round(pct(comp, 99), 3),
            "parts": len(part), "completes": len(comp), "errors": dict(errors.most_common()),
            "requests_per_replica": dict(per_replica)}


@contextlib.contextmanager
def worker(env: dict[str, str], log_path: Path):
    import subprocess

    from common import BWV, ROOT

    with open(log_path, "wb") as f:
        p = subprocess.Popen([BWV, "worker"], env=env, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    try:
        yield p
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def base_env(endpoint: str, db_url: str, work_dir: Path) -> tuple[dict[str, str], str]:
    bucket = make_bucket(endpoint, object_lock=True)
    env = bwv_env(work_dir / "data", database_url=db_url, storage_url=f"s3://{bucket}", s3_endpoint_url=endpoint,
                  redis_url=REDIS_URL, queue_name=f"bwv-shift:{uuid.uuid4().hex[:8]}")
    env.update(AWS_ENV)
    return env, bucket


async def calibrate(endpoint: str, work_dir: Path, blobs: Blobs) -> dict[str, float]:
    """CPU of one idle replica per request (tiny one-part uploads) and per MB (one 64 MB upload, 8 MB parts)."""
    with fresh_pg_database("shiftcal") as db_url:
        env, _ = base_env(endpoint, db_url, work_dir / "cal")
        run_bwv(["migrate"], env, timeout=300)
        (h,) = await register_docks(env, 1)
        with BwvServer(env, work_dir / "cal-server.log") as srv:
            dock = Dock(lambda: [srv.url], h, part_size=REAL_PART_MB * MB, parallel=4)
            async with httpx.AsyncClient() as client:
                small = [blobs.make(10**9 + i, 2048) for i in range(60)]
                await dock.upload(client, small[0], meta(small[0], "cal-warm"))
                c0, n0 = cpu_seconds(srv.pid), len(dock.sent)
                for i, data in enumerate(small[1:]):
                    await dock.upload(client, data, meta(data, f"cal-small-{i}"))
                c1, n1 = cpu_seconds(srv.pid), len(dock.sent)
                big = blobs.make(2 * 10**9, 64 * MB)
                await dock.upload(client, big, meta(big, "cal-big"))
                c2, n2 = cpu_seconds(srv.pid), len(dock.sent)
    per_req = (c1 - c0) / max(1, n1 - n0)
    per_mb = max(0.0, (c2 - c1) - per_req * (n2 - n1)) / 64
    return {"cpu_s_per_request": round(per_req, 5), "cpu_s_per_mb": round(per_mb, 5)}


async def run_config(replicas: int, endpoint: str, work_dir: Path, headers_n: int, work, blobs: Blobs,
                     args: argparse.Namespace, kill: bool) -> dict[str, Any]:
    with fresh_pg_database("shift") as db_url:
        env, bucket = base_env(endpoint, db_url, work_dir / f"r{replicas}")
        run_bwv(["migrate"], env, timeout=300)
        headers = await register_docks(env, headers_n)
        servers = [BwvServer(env, work_dir / f"r{replicas}-server-{i}.log").start() for i in range(replicas)]
        samplers = [RssSampler(s.pid) for s in servers]
        for s in samplers:
            s.start()
        conns = ConnSampler(db_url.rsplit("/", 1)[1])
        conns.start()
        cpu0 = [cpu_seconds(s.pid) for s in servers]
        killed: dict[str, Any] = {}
        total = sum(len(w) for w in work)

        def progress(done: int, n: int) -> None:
            if done % max(1, n // 10) == 0:
                log(f"  {replicas} replica(s): {done}/{n} recordings")
            if kill and not killed and done >= n // 3:
                victim = servers[0]
                killed["at_recording"] = done
                killed["cpu_s"] = cpu_seconds(victim.pid)
                killed["rss_mb"] = samplers[0].stop()[0]
                victim.proc.send_signal(signal.SIGKILL)
                victim.proc.wait()
                log(f"  SIGKILLed replica 0 after {done} recordings")

                def restart() -> None:
                    time.sleep(3)
                    victim.start()
                    killed["restarted"] = True

                threading.Thread(target=restart, daemon=True).start()

        try:
            with worker(env, work_dir / f"r{replicas}-worker.log"):
                docks, res, wall, nbytes = await drive([s.url for s in servers], headers, work, blobs, args, progress)
        finally:
            cpu = [cpu_seconds(s.pid) for s in servers]
            rss = []
            for i, s in enumerate(samplers):
                if kill and i == 0:
                    rss.append(killed.get("rss_mb", 0.0))
                else:
                    rss.append(round(s.stop()[0], 1))
            peak_conns = conns.stop()
            for s in servers:
                s.stop()
        out = summarize(docks, wall, nbytes, total)
        out.update(await check_stored(env, res["expected"]))
        out.update(replicas=replicas, peak_pg_connections=peak_conns, rss_mb=[round(x, 1) for x in rss],
                   server_cpu_s=round(sum(cpu) - sum(cpu0) + killed.get("cpu_s", 0.0), 2),  # a killed one: before + after
                   dock_failures=res["failures"][:20], dock_failures_n=len(res["failures"]), killed=killed or None,
                   bucket=bucket)
        return out


def model(cal: dict[str, float], args: argparse.Namespace) -> dict[str, Any]:
    """api cores a force needs at full file sizes, from the calibrated CPU costs."""
    rec_per_hour = args.cameras * args.per_camera
    req_per_rec = 2 + math.ceil(MEAN_REAL_MB / REAL_PART_MB)  # create + parts + complete
    cpu_per_rec = req_per_rec * cal["cpu_s_per_request"] + MEAN_REAL_MB * cal["cpu_s_per_mb"]
    cores = rec_per_hour / 3600 * cpu_per_rec
    return {"cameras": args.cameras, "recordings_per_camera": args.per_camera, "mean_recording_mb": round(MEAN_REAL_MB, 1),
            "requests_per_recording": req_per_rec, "cpu_s_per_recording": round(cpu_per_rec, 3),
            "recordings_per_min_per_core": round(60 / cpu_per_rec, 1), "api_cores": round(cores, 1),
            "ingest_mb_s": round(rec_per_hour * MEAN_REAL_MB / 3600, 1)}


async def main_async(args: argparse.Namespace) -> int:
    work_dir = WORK / f"shift-{uuid.uuid4().hex[:6]}"
    work_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update(AWS_ENV)
    endpoint, moto = start_moto_server()
    blobs = Blobs(args.seed)
    work = plan(args)
    results: dict[str, Any] = {"date": now_iso(), "machine": machine_info(), "args": vars(args),
                               "command": "bench/shift.py " + " ".join(sys.argv[1:]),
                               "planned_mb": round(sum(s for w in work for _, _, s in w) / MB, 2),
                               "load_1m": [], "configs": []}
    try:
        log("calibrating CPU per request and per MB on one idle replica")
        results["calibration"] = await calibrate(endpoint, work_dir, blobs)
        log(f"  {results['calibration']}")
        for replicas in (1, 2):
            log(f"{replicas} replica(s): {args.docks} docks x {args.recordings} recordings, "
                f"{results['planned_mb']} MB")
            results["load_1m"].append(round(os.getloadavg()[0], 2))
            r = await run_config(replicas, endpoint, work_dir, args.docks, work, blobs, args,
                                 kill=args.kill and replicas == 2)
            results["configs"].append(r)
            log(f"  {r['mb_s']} MB/s, {r['recordings_per_min']} rec/min, lost {r['lost']}, dup {r['duplicated']}, "
                f"part p99 {r['part_p99_s']} s, peak PG conns {r['peak_pg_connections']}, RSS {r['rss_mb']} MB")
    finally:
        stop_moto_server(moto)
    results["model"] = model(results["calibration"], args)
    one, two = results["configs"]
    results["ratio_2_to_1"] = round(two["mb_s"] / one["mb_s"], 2) if one["mb_s"] else None
    results["zero_loss"] = all(c["lost"] == 0 and c["duplicated"] == 0 and c["wrong"] == 0 and c["dock_failures_n"] == 0
                               for c in results["configs"])
    md = render(results)
    write(args.report, md, results)
    print(md)
    return 0 if results["zero_loss"] else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docks", type=int, default=100)
    ap.add_argument("--recordings", type=int, default=10, help="per dock")
    ap.add_argument("--scale", type=float, default=0.002, help="multiplies the 5-500 MB sizes (this machine)")
    ap.add_argument("--part-kb", type=int, default=256, help="part size at this scale (real docks: 8 MB)")
    ap.add_argument("--inflight", type=int, default=4, help="parts in flight per dock")
    ap.add_argument("--timeout", type=float, default=120, help="a dock's per-request timeout, seconds")
    ap.add_argument("--kill", action="store_true", help="SIGKILL one of the 2 replicas a third of the way in")
    ap.add_argument("--cameras", type=int, default=22_000, help="for the capacity model")
    ap.add_argument("--per-camera", type=int, default=10, help="recordings per camera docked in the hour")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--report", default="shift")
    return asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
