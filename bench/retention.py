"""Retention against DESIGN.md "Performance targets": decide 1,000,000 recordings in < 10 s on
PostgreSQL; delete objects in batches of 1,000 (S3 DeleteObjects).

1. Load: a fresh PostgreSQL database, migrated, N recordings bulk-loaded with COPY. 1 % flagged
   (evidence, delete_after NULL), 0.5 % held (delete_after NULL), 40 % with delete_after in the past,
   the rest in the future. On top, two small adversarial sets inside the 40 %: "stale" rows whose
   delete_after is past but which are flagged/held (rule 1: must survive), and "decoys" with a removed
   flag or a released hold (not protected: must go).
2. Decision: count + sum with the exact predicate ``service.retention.repository.due`` through an
   AsyncEngine, fetching every due id, and EXPLAIN ANALYZE; also a steady-state day (a small due set),
   and, after the sweep, the next day with 40 % of the table tombstoned.
3. The real sweep (``service.retention.sweep.sweep``) over LocalStore on a temp dir (deletes of missing
   files are cheap), instrumented per phase by wrapping the functions it calls (no service code edited).
4. Object deletion against moto's S3 server: raw boto3 DeleteObjects (1,000 a request) vs
   ``S3Store.delete`` (1,000 keys a call, as the sweep calls it), plain and Object-Lock buckets.

    .venv/bin/python bench/retention.py [--recordings 1000000] [--objects 20000] [--keep-db]
                                        [--sweep-limit N] [--skip-sweep] [--skip-s3]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ for `common`

import asyncpg  # noqa: E402
import structlog  # noqa: E402
from common import (  # noqa: E402
    AWS_ENV,
    PG_HOST,
    PG_PORT,
    PG_USER,
    ROOT,
    machine_info,
    md_table,
    now_iso,
    text_table,
    write_report,
)
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.ext.compiler import compiles  # noqa: E402
from sqlalchemy.sql.expression import ClauseElement, Executable  # noqa: E402

from service.audit.models import AuditEvent  # noqa: E402
from service.db import make_engine  # noqa: E402
from service.migrations import upgrade  # noqa: E402
from service.recordings.models import Recording  # noqa: E402
from service.retention import repository as retention_repo  # noqa: E402
from service.retention.models import Flag, Hold, HoldRecording  # noqa: E402
from service.retention.policy import load_policies  # noqa: E402
from service.retention.service import keep_categories  # noqa: E402

POLICY_DIR = ROOT / "policies"
DECISION_TARGET_S = 10.0
S3_RATIO_TARGET = 0.8
CHUNK_ROWS = 50_000

REC_COLUMNS = ["id", "device_id", "officer_id", "dock_id", "upload_id", "filename", "content_type",
               "size_bytes", "sha256", "storage_key", "received_at", "recorded_start", "recorded_end",
               "device_clock_at_dock", "drift_s", "time_trust", "trusted_start", "trusted_end", "basis_start",
               "basis_end", "media_status", "status", "retention_category", "delete_after", "restricted"]


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---- EXPLAIN through SQLAlchemy (same compiled SQL and binds as the real query) -----------------

class Explain(Executable, ClauseElement):
    inherit_cache = False

    def __init__(self, stmt: Any) -> None:
        self.stmt = stmt


@compiles(Explain, "postgresql")
def _explain_pg(element: Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (ANALYZE, BUFFERS) " + compiler.process(element.stmt, **kw)


def plan_summary(lines: list[str]) -> dict[str, Any]:
    text = "\n".join(lines)
    nodes = []
    for line in lines:
        s = line.strip().lstrip("->").strip()
        if not s or s.startswith(("Buffers", "Planning", "Execution", "Filter", "Index Cond", "Hash Cond",
                                  "Rows Removed", "Sort Key", "Sort Method", "Heap Blocks", "Recheck",
                                  "Join Filter", "Group Key", "Workers", "Worker", "Output", "Batches",
                                  "Heap Fetches", "One-Time", "Merge Cond", "Memory", "I/O Timings",
                                  "Presorted", "Full-sort", "SubPlan", "Cache", "Hits")):
            continue
        nodes.append(s.split("  (")[0].split(" (cost")[0])
    exec_ms = next((float(line.split(":")[1].split()[0]) for line in lines if "Execution Time" in line), None)
    return {"uses_ix_delete_after": "ix_recordings_delete_after" in text,
            "indexes": sorted({w for w in text.replace("(", " ").split() if w.startswith(("ix_", "pk_", "uq_"))}),
            "nodes": nodes, "execution_ms": exec_ms, "plan": text}


# ---- 1. load ------------------------------------------------------------------------------------

KINDS = ("future", "past", "flagged", "held", "stale_flag", "stale_hold", "decoy_flag", "decoy_hold")


def plan_kinds(n: int, seed: int, stale_frac: float, decoy_frac: float) -> list[str]:
    """Kind of each row: exact counts, shuffled."""
    counts = {"flagged": round(n * 0.01), "held": round(n * 0.005),
              "stale_flag": round(n * stale_frac / 2), "stale_hold": round(n * stale_frac / 2),
              "decoy_flag": round(n * decoy_frac / 2), "decoy_hold": round(n * decoy_frac / 2)}
    past_total = round(n * 0.40)  # every row whose delete_after is in the past, stale and decoys included
    counts["past"] = past_total - sum(counts[k] for k in ("stale_flag", "stale_hold", "decoy_flag", "decoy_hold"))
    counts["future"] = n - sum(counts.values())
    kinds = [k for k, c in counts.items() for _ in range(c)]
    random.Random(seed).shuffle(kinds)
    return kinds


def gen_rows(start: int, kinds: list[str], now: datetime, seed: int) -> list[tuple[Any, ...]]:
    rng = random.Random(seed * 1_000_003 + start)
    day, hour = 86400.0, 3600.0
    rows = []
    for j, kind in enumerate(kinds):
        i = start + j
        rid = f"rec_{i:026d}"
        if kind in ("future",):
            delete_after = now + timedelta(seconds=rng.uniform(1 * day, 31 * day))
        elif kind in ("flagged", "held"):
            delete_after = None
        else:  # past, stale_*, decoy_*: strictly before now - 1 min, so the as_of never splits them
            delete_after = now - timedelta(seconds=rng.uniform(60.0, 60 * day))
        if delete_after is not None:
            basis_start = delete_after - timedelta(days=31)
        else:
            basis_start = now - timedelta(seconds=rng.uniform(0, 90 * day))
        dur = timedelta(seconds=rng.uniform(30, 1800))
        untrusted = rng.random() < 0.02
        received = min(now, basis_start + dur + timedelta(seconds=rng.uniform(0.5 * hour, 12 * hour)))
        if untrusted:  # basis is the receipt time (rule 2); the camera stamped something else
            recorded_start = basis_start - timedelta(days=400)
            trusted_start = trusted_end = None
            drift = -400 * day
            b_start, b_end = received, received
        else:
            recorded_start = basis_start
            trusted_start, trusted_end = basis_start, basis_start + dur
            drift = rng.uniform(-2, 2)
            b_start, b_end = basis_start, basis_start + dur
        rows.append((
            rid, f"dev-{i % 22000:05d}", f"off-{i % 6000:04d}", f"dock-{i % 900:03d}", f"upl_{i:026d}",
            f"{rid}.mp4", "video/mp4", rng.randint(50 * 2**20, 2 * 2**30), f"{i:064x}", f"recordings/{rid}",
            received, recorded_start, recorded_start + dur, received + timedelta(seconds=drift), drift,
            "untrusted" if untrusted else "trusted", trusted_start, trusted_end, b_start, b_end,
            "done", "active", "evidence" if kind in ("flagged", "stale_flag") else "default", delete_after,
            False,
        ))
    return rows


async def load(url_pg: str, n: int, now: datetime, seed: int, stale_frac: float, decoy_frac: float) -> dict[str, Any]:
    kinds = plan_kinds(n, seed, stale_frac, decoy_frac)
    conn = await asyncpg.connect(url_pg)
    out: dict[str, Any] = {"kinds": {k: kinds.count(k) for k in KINDS}}
    try:
        t0 = time.perf_counter()
        gen_s = 0.0
        pending: asyncio.Task[Any] | None = None
        for start in range(0, n, CHUNK_ROWS):
            g0 = time.perf_counter()
            # Generate the next chunk in a thread while PostgreSQL ingests the previous one.
            rows = await asyncio.to_thread(gen_rows, start, kinds[start:start + CHUNK_ROWS], now, seed)
            gen_s += time.perf_counter() - g0
            if pending is not None:
                await pending
            pending = asyncio.create_task(conn.copy_records_to_table("recordings", records=rows,
                                                                     columns=REC_COLUMNS))
            if (start // CHUNK_ROWS) % 4 == 3:
                say(f"  loaded {start + len(rows):,} / {n:,}")
        if pending is not None:
            await pending
        out["recordings_s"] = time.perf_counter() - t0
        out["generate_s"] = gen_s

        t1 = time.perf_counter()
        by_kind: dict[str, list[str]] = {k: [] for k in KINDS}
        for i, k in enumerate(kinds):
            if k not in ("future", "past"):
                by_kind[k].append(f"rec_{i:026d}")
        created = now - timedelta(days=1)
        flags = []
        for k in ("flagged", "stale_flag", "decoy_flag"):
            for rid in by_kind[k]:
                removed = k == "decoy_flag"
                flags.append((f"flg_{uuid.uuid4().hex[:26]}", rid, "evidence", f"OP/{rid[-6:]}", "off-0001",
                              created, "sup-0001" if removed else None, created + timedelta(hours=1) if removed else None,
                              "not evidential after review" if removed else None))
        await conn.copy_records_to_table("flags", records=flags, columns=[
            "id", "recording_id", "category", "reference", "created_by", "created_at", "removed_by",
            "removed_at", "removed_reason"])
        active_holds = [f"hld_active_{j:02d}" for j in range(8)]
        released_hold = "hld_released_00"
        holds = [(h, "legal", f"LEGAL/{j}", "bench", "legal-0001", created, None, None)
                 for j, h in enumerate(active_holds)]
        holds.append((released_hold, "complaint", "COMPLAINT/1", "bench", "legal-0001", created - timedelta(days=2),
                       "legal-0001", created))
        await conn.copy_records_to_table("holds", records=holds, columns=[
            "id", "kind", "reference", "reason", "created_by", "created_at", "released_by", "released_at"])
        links = [(active_holds[j % len(active_holds)], rid, created)
                 for k in ("held", "stale_hold") for j, rid in enumerate(by_kind[k])]
        links += [(released_hold, rid, created) for rid in by_kind["decoy_hold"]]
        await conn.copy_records_to_table("hold_recordings", records=links,
                                         columns=["hold_id", "recording_id", "added_at"])
        out["flags"], out["holds"], out["hold_links"] = len(flags), len(holds), len(links)
        out["protection_s"] = time.perf_counter() - t1

        t2 = time.perf_counter()
        await conn.execute("ANALYZE")
        out["analyze_s"] = time.perf_counter() - t2
        out["total_s"] = time.perf_counter() - t0
        out["table_mb"] = (await conn.fetchval("SELECT pg_total_relation_size('recordings')")) / 2**20
        out["protected_ids"] = by_kind["flagged"] + by_kind["held"] + by_kind["stale_flag"] + by_kind["stale_hold"]
    finally:
        await conn.close()
    return out


# ---- 2. decision --------------------------------------------------------------------------------

async def decide(engine: Any, as_of: datetime, keep: list[str], *, fetch_ids: bool = True,
                 repeats: int = 3) -> dict[str, Any]:
    pred = retention_repo.due(as_of, keep)
    q_sum = select(func.count(), func.coalesce(func.sum(Recording.size_bytes), 0)).where(pred)
    q_ids = select(Recording.id).where(pred)
    out: dict[str, Any] = {"as_of": as_of.isoformat()}
    times = []
    async with engine.connect() as c:
        for _ in range(repeats):
            t = time.perf_counter()
            count, size = (await c.execute(q_sum)).one()
            times.append(time.perf_counter() - t)
        out.update(count=int(count), bytes=int(size), count_s_first=times[0], count_s_best=min(times))
        if fetch_ids:
            t = time.perf_counter()
            ids = list((await c.execute(q_ids)).scalars())
            out["ids_s"] = time.perf_counter() - t
            out["ids"] = len(ids)
            assert len(ids) == out["count"], (len(ids), out["count"])
        plan = [r[0] for r in (await c.execute(Explain(q_sum))).all()]
        out["explain_count"] = plan_summary(plan)
        if fetch_ids:
            plan = [r[0] for r in (await c.execute(Explain(q_ids))).all()]
            out["explain_ids"] = plan_summary(plan)
    return out


# ---- 3. sweep -----------------------------------------------------------------------------------

class PhaseTimer:
    """Wraps the functions the sweep calls (module attributes, looked up at call time)."""

    def __init__(self) -> None:
        self.total: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.claims: list[tuple[float, float]] = []  # (start, seconds) of each claim_due
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, attr: str, name: str) -> None:
        orig = getattr(owner, attr)

        async def timed(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return await orig(*a, **kw)
            finally:
                dt = time.perf_counter() - t
                self.total[name] = self.total.get(name, 0.0) + dt
                self.calls[name] = self.calls.get(name, 0) + 1
                if name == "claim_due":
                    self.claims.append((t, dt))

        setattr(owner, attr, timed)
        self._undo.append(lambda: setattr(owner, attr, orig))

    def restore(self) -> None:
        for u in reversed(self._undo):
            u()


async def run_sweep(url: str, as_of: datetime, tmp: Path, expected_due: int,
                    protected_ids: list[str]) -> dict[str, Any]:
    from service.audit import service as audit_service
    from service.auth.schemas import system_principal
    from service.config import Settings
    from service.context import build_context
    from service.retention.sweep import sweep

    settings = Settings(database_url=url, storage_url=f"file://{tmp / 'objects'}", policy_dir=POLICY_DIR,
                        data_dir=tmp, secret_key="bench")
    ctx = build_context(settings)
    timer = PhaseTimer()
    timer.wrap(retention_repo, "claim_due", "claim_due")
    timer.wrap(retention_repo, "set_status", "set_status")
    timer.wrap(retention_repo, "lock_deleting", "lock_deleting")
    timer.wrap(retention_repo, "protected_ids", "protected_ids")
    timer.wrap(audit_service, "record_many", "audit.record_many")
    timer.wrap(ctx.store, "delete", "store.delete")
    out: dict[str, Any] = {}
    try:
        t0 = time.perf_counter()
        report = await sweep(ctx, system_principal("bench"), as_of=as_of)
        wall = time.perf_counter() - t0
    finally:
        timer.restore()
    try:
        out.update(seconds=wall, due=report.due, deleted=report.deleted, refused=report.refused,
                   bytes=report.bytes, per_s=report.deleted / wall if wall else 0.0,
                   phases={k: round(v, 3) for k, v in sorted(timer.total.items(), key=lambda kv: -kv[1])},
                   calls=timer.calls)
        accounted = sum(timer.total.values())
        out["phases"]["other (ORM load/flush, tombstone UPDATEs, commit)"] = round(wall - accounted, 3)
        # Batch-to-batch: does a claim get slower as the sweep goes on?
        cl = [d for _, d in timer.claims]
        if len(cl) >= 4:
            k = max(1, min(10, len(cl) // 4))
            out["claim_first_ms"] = statistics.mean(cl[:k]) * 1000
            out["claim_last_ms"] = statistics.mean(cl[-k - 1:-1] if len(cl) > k + 1 else cl[-k:]) * 1000
        starts = [s for s, _ in timer.claims]
        if len(starts) >= 4:
            gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
            k = max(1, min(10, len(gaps) // 4))
            out["batch_first_ms"] = statistics.mean(gaps[:k]) * 1000
            out["batch_last_ms"] = statistics.mean(gaps[-k:]) * 1000
        async with ctx.sessions() as s:
            deleted = (await s.execute(select(func.count()).where(Recording.status == "deleted"))).scalar_one()
            deleting = (await s.execute(select(func.count()).where(Recording.status == "deleting"))).scalar_one()
            prot_deleted = 0
            for i in range(0, len(protected_ids), 5000):
                part = protected_ids[i:i + 5000]
                prot_deleted += (await s.execute(select(func.count()).where(
                    Recording.id.in_(part), Recording.status != "active"))).scalar_one()
            tombstone_events = (await s.execute(select(func.count()).where(
                AuditEvent.action == "recording.deleted"))).scalar_one()
        checks = {
            "deleted == due (decided before)": (deleted, expected_due, deleted == expected_due),
            "report.deleted == due": (report.deleted, expected_due, report.deleted == expected_due),
            "flagged/held rows not active (must be 0)": (prot_deleted, 0, prot_deleted == 0),
            "rows left 'deleting' (must be 0)": (deleting, 0, deleting == 0),
            "recording.deleted audit events == deleted": (tombstone_events, deleted, tombstone_events == deleted),
        }
        out["checks"] = {k: {"got": g, "want": w, "ok": ok} for k, (g, w, ok) in checks.items()}
        out["ok"] = all(ok for _, _, ok in checks.values())
    finally:
        await ctx.close()
    return out


# ---- 4. S3 deletes ------------------------------------------------------------------------------

def _client(endpoint: str, pool: int = 32) -> Any:
    import boto3
    from botocore.config import Config

    # The same configuration S3Store uses, so (a) and (b) differ only in the code path.
    cfg = Config(region_name="us-east-1", max_pool_connections=pool, retries={"max_attempts": 5, "mode": "standard"},
                 s3={"addressing_style": "path"})
    return boto3.session.Session().client("s3", endpoint_url=endpoint, config=cfg)


def put_many(client: Any, bucket: str, keys: list[str], threads: int = 16) -> dict[str, str | None]:
    body = os.urandom(1024)

    def put(k: str) -> tuple[str, str | None]:
        return k, client.put_object(Bucket=bucket, Key=k, Body=body).get("VersionId")

    with ThreadPoolExecutor(threads) as pool:
        return dict(pool.map(put, keys))


def remaining(client: Any, bucket: str, prefix: str, versions: bool) -> int:
    n = 0
    if versions:
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
            n += len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))
    else:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            n += page.get("KeyCount", 0)
    return n


def raw_delete(client: Any, bucket: str, objects: list[dict[str, str]]) -> float:
    t = time.perf_counter()
    for i in range(0, len(objects), 1000):
        resp = client.delete_objects(Bucket=bucket, Delete={"Objects": objects[i:i + 1000], "Quiet": True})
        if resp.get("Errors"):
            raise RuntimeError(f"raw delete_objects errors: {resp['Errors'][:3]}")
    return time.perf_counter() - t


async def store_delete(endpoint: str, bucket: str, keys: list[str]) -> float:
    from service.storage.s3 import S3Store

    store = S3Store(bucket, endpoint_url=endpoint)
    try:
        t = time.perf_counter()
        for i in range(0, len(keys), 1000):  # the sweep hands the store one batch of 1,000 at a time
            failed = await store.delete(keys[i:i + 1000])
            if failed:
                raise RuntimeError(f"S3Store.delete refused {len(failed)} keys, e.g. {failed[:3]}")
        return time.perf_counter() - t
    finally:
        await store.close()


async def s3_bench(n: int, n_versioned: int) -> dict[str, Any]:
    from tests.fixtures.s3 import make_bucket, start_moto_server, stop_moto_server

    os.environ.update(AWS_ENV)
    endpoint, proc = start_moto_server()
    out: dict[str, Any] = {"objects": n, "objects_versioned": n_versioned, "endpoint": "moto server (subprocess)"}
    client = _client(endpoint)
    try:
        def fresh(tag: str, count: int, lock: bool) -> tuple[str, list[str], dict[str, str | None], float]:
            bucket = make_bucket(endpoint, object_lock=lock)
            keys = [f"recordings/rec_{tag}_{i:08d}" for i in range(count)]
            t = time.perf_counter()
            vids = put_many(client, bucket, keys)
            return bucket, keys, vids, time.perf_counter() - t

        # (a) raw DeleteObjects, plain bucket
        bucket, keys, _, put_s = fresh("a", n, False)
        say(f"  put {n:,} objects in {put_s:.1f} s ({n / put_s:,.0f}/s)")
        a = raw_delete(client, bucket, [{"Key": k} for k in keys])
        left_a = remaining(client, bucket, "recordings/", False)
        # (b) S3Store.delete, plain bucket, fresh objects
        bucket, keys, _, _ = fresh("b", n, False)
        b = await store_delete(endpoint, bucket, keys)
        left_b = remaining(client, bucket, "recordings/", False)
        out["plain"] = {"raw_s": a, "raw_per_s": n / a, "store_s": b, "store_per_s": n / b,
                        "ratio": a / b, "left_raw": left_a, "left_store": left_b}
        say(f"  plain bucket: raw {n / a:,.0f}/s, S3Store {n / b:,.0f}/s, ratio {a / b:.2f}")

        # Versioned / Object Lock: the raw baseline deletes each (Key, VersionId) it got back from PUT.
        m = n_versioned
        bucket, keys, vids, _ = fresh("c", m, True)
        c = raw_delete(client, bucket, [{"Key": k, "VersionId": vids[k]} for k in keys])
        left_c = remaining(client, bucket, "recordings/", True)
        bucket, keys, _, _ = fresh("d", m, True)
        d = await store_delete(endpoint, bucket, keys)
        left_d = remaining(client, bucket, "recordings/", True)
        out["object_lock"] = {"raw_s": c, "raw_per_s": m / c, "store_s": d, "store_per_s": m / d,
                              "ratio": c / d, "left_raw": left_c, "left_store": left_d}
        say(f"  Object Lock bucket: raw (Key+VersionId) {m / c:,.0f}/s, S3Store {m / d:,.0f}/s, ratio {c / d:.2f}")
    finally:
        client.close()
        stop_moto_server(proc)
    return out


# ---- report -------------------------------------------------------------------------------------

def fmt_s(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f} s"


def build_report(args: argparse.Namespace, data: dict[str, Any]) -> tuple[str, str]:
    m = data["machine"]
    rows: list[list[Any]] = []
    ld = data.get("load")
    if ld:
        rows.append(["load: COPY recordings (+ indexes)", fmt_s(ld["recordings_s"]),
                     f"{args.recordings / ld['recordings_s']:,.0f} rows/s", ""])
        rows.append(["load: flags/holds + ANALYZE", fmt_s(ld["protection_s"] + ld["analyze_s"]), "", ""])
    dec = data.get("decision")
    if dec:
        ok = dec["count_s_first"] < DECISION_TARGET_S
        rows.append([f"decide: count+sum of due ({dec['count']:,} of {args.recordings:,})",
                     fmt_s(dec["count_s_first"]), f"best {dec['count_s_best']:.2f} s",
                     f"< 10 s: {'met' if ok else 'NOT met'}"])
        rows.append([f"decide: fetch all {dec['ids']:,} due ids", fmt_s(dec["ids_s"]), "", ""])
        rows.append(["  plan (count) uses ix_recordings_delete_after",
                     "yes" if dec["explain_count"]["uses_ix_delete_after"] else "no",
                     " > ".join(dec["explain_count"]["nodes"][:4]), ""])
    for key, label in (("decision_day", "decide: one day's due set, before the sweep"),
                       ("decision_after", "decide: next day, after the sweep (tombstones)")):
        d = data.get(key)
        if d:
            rows.append([f"{label} ({d['count']:,})", fmt_s(d["count_s_first"]),
                         f"best {d['count_s_best']:.3f} s; ix_delete_after: "
                         f"{'yes' if d['explain_count']['uses_ix_delete_after'] else 'no'}", ""])
    sw = data.get("sweep")
    if sw:
        rows.append([f"sweep: {sw['deleted']:,} tombstoned" + (" (subset)" if sw.get("subset") else ""),
                     fmt_s(sw["seconds"]), f"{sw['per_s']:,.0f} rec/s", "checks " + ("ok" if sw["ok"] else "FAILED")])
        if sw.get("extrapolated_full_s"):
            rows.append([f"sweep: extrapolated to all {sw['full_due']:,} due", fmt_s(sw["extrapolated_full_s"]),
                         "linear", ""])
    s3 = data.get("s3")
    if s3:
        for key, label, n in (("plain", "plain bucket", s3["objects"]),
                              ("object_lock", "Object-Lock bucket", s3["objects_versioned"])):
            r = s3[key]
            rows.append([f"S3 delete {n:,} ({label}): raw DeleteObjects", fmt_s(r["raw_s"]),
                         f"{r['raw_per_s']:,.0f} obj/s", ""])
            rows.append([f"S3 delete {n:,} ({label}): S3Store.delete", fmt_s(r["store_s"]),
                         f"{r['store_per_s']:,.0f} obj/s",
                         f"b/a {r['ratio']:.2f} (≥ 0.8: {'met' if r['ratio'] >= S3_RATIO_TARGET else 'NOT met'})"])
    headers = ["measure", "time", "rate / detail", "target"]
    text = text_table(headers, rows)

    md = [f"# Retention benchmark ({data['date']})", "",
          f"Machine: {m['cpu']}, nproc {m['nproc']}, RAM {m['ram_gib']} GiB, Python {m['python']}, "
          f"{data.get('postgres', '')}.",
          f"N = {args.recordings:,} recordings; S3 part: {args.objects:,} objects of 1 KiB on moto's S3 server.",
          f"Command: `.venv/bin/python bench/retention.py {' '.join(sys.argv[1:])}`", "",
          md_table(headers, rows), ""]
    if ld:
        md += ["## Data", "", "Row kinds: " + ", ".join(f"{k} {v:,}" for k, v in ld["kinds"].items()) + ".",
               "`stale_*`: delete_after in the past but actively flagged/held (rule 1: must survive the sweep); "
               "`decoy_*`: removed flag / released hold (not protected: must be deleted).",
               f"recordings table with indexes: {ld['table_mb']:,.0f} MB. Load: generate {ld['generate_s']:.1f} s "
               f"(overlapped with COPY), COPY total {ld['recordings_s']:.1f} s, flags/holds {ld['protection_s']:.1f} s, "
               f"ANALYZE {ld['analyze_s']:.1f} s.", ""]
    if dec:
        md += ["## Decision plans", ""]
        for key, label in (("decision", "full due set, count+sum"), ("decision_day", "one day, count+sum"),
                           ("decision_after", "next day after the sweep, count+sum")):
            d = data.get(key)
            if d:
                md += [f"### {label} ({d['count']:,} due, {d['count_s_first']:.3f} s)", "", "```",
                       d["explain_count"]["plan"], "```", ""]
    if sw:
        md += ["## Sweep", "",
               f"as_of {sw['as_of']}; {sw['due']:,} claimed, {sw['deleted']:,} deleted, {sw['refused']} refused, "
               f"{sw['seconds']:.1f} s ({sw['per_s']:,.0f} recordings/s).", ""]
        if sw.get("subset"):
            md += [f"**Subset**: the sweep ran with as_of set so that only the first {sw['deleted']:,} of "
                   f"{sw['full_due']:,} due rows were due; the full figure is a linear extrapolation "
                   f"({sw['extrapolated_full_s']:.0f} s), optimistic if batches slow down (see below).", ""]
        md += ["Time by phase (wrapped functions; the rest is ORM loading/flushing and commits):", "",
               md_table(["phase", "seconds", "calls"],
                        [[k, v, sw["calls"].get(k, "")] for k, v in sw["phases"].items()]), ""]
        if "claim_first_ms" in sw:
            md += [f"claim_due: first batches {sw['claim_first_ms']:.0f} ms, last batches {sw['claim_last_ms']:.0f} ms; "
                   f"whole batch: first {sw['batch_first_ms']:.0f} ms, last {sw['batch_last_ms']:.0f} ms.", ""]
        md += ["Checks:", "", md_table(["check", "got", "want", "ok"],
                                       [[k, v["got"], v["want"], v["ok"]] for k, v in sw["checks"].items()]), ""]
    if s3:
        md += ["## S3 deletes", "",
               "(a) raw boto3 `delete_objects`, 1,000 keys a request (for Object Lock: Key + VersionId from the PUT); "
               "(b) `S3Store.delete` called with 1,000 keys at a time, as the sweep does. Fresh objects and a fresh "
               "bucket for each; same client configuration. Left-over objects after each: "
               + ", ".join(f"{k}: raw {s3[k]['left_raw']}, store {s3[k]['left_store']}" for k in ("plain", "object_lock"))
               + ".", ""]
    if data.get("notes"):
        md += ["## Notes", ""] + [f"- {n}" for n in data["notes"]] + [""]
    return text, "\n".join(md)


# ---- main ---------------------------------------------------------------------------------------

async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recordings", type=int, default=1_000_000)
    p.add_argument("--objects", type=int, default=20_000, help="objects per S3 measurement")
    p.add_argument("--objects-versioned", type=int, default=None,
                   help="objects for the Object-Lock bucket (default: --objects)")
    p.add_argument("--keep-db", action="store_true")
    p.add_argument("--sweep-limit", type=int, default=None,
                   help="sweep only the first N due rows (as_of moved back) and extrapolate")
    p.add_argument("--skip-sweep", action="store_true")
    p.add_argument("--skip-s3", action="store_true")
    p.add_argument("--stale-frac", type=float, default=0.001)
    p.add_argument("--decoy-frac", type=float, default=0.001)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--report-name", default="retention")
    args = p.parse_args()

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    data: dict[str, Any] = {"date": now_iso(), "machine": machine_info(), "args": vars(args), "notes": []}
    keep = keep_categories(load_policies(POLICY_DIR).retention)
    dbname = f"bwv_bench_{uuid.uuid4().hex[:10]}"
    admin_dsn = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/postgres"
    pg_dsn = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{dbname}"
    url = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{dbname}"
    admin = await asyncpg.connect(admin_dsn)
    data["postgres"] = (await admin.fetchval("SHOW server_version")).split()[0]
    data["postgres"] = f"PostgreSQL {data['postgres']} (shared_buffers {await admin.fetchval('SHOW shared_buffers')}, " \
                       f"work_mem {await admin.fetchval('SHOW work_mem')})"
    await admin.execute(f'CREATE DATABASE "{dbname}"')
    await admin.close()
    say(f"database {dbname}")
    try:
        await asyncio.to_thread(upgrade, url)
        now = datetime.now(UTC).replace(microsecond=0)
        say(f"loading {args.recordings:,} recordings ...")
        ld = await load(pg_dsn, args.recordings, now, args.seed, args.stale_frac, args.decoy_frac)
        protected_ids = ld.pop("protected_ids")
        data["load"] = ld
        say(f"load: {ld['total_s']:.1f} s (COPY {ld['recordings_s']:.1f} s, {ld['table_mb']:,.0f} MB)")

        engine = make_engine(url)
        try:
            as_of = now
            dec = await decide(engine, as_of, keep)
            data["decision"] = dec
            kinds = ld["kinds"]
            want_due = kinds["past"] + kinds["decoy_flag"] + kinds["decoy_hold"]
            if dec["count"] != want_due:
                data["notes"].append(f"due count {dec['count']} != expected {want_due}")
            say(f"decision: {dec['count']:,} due, count+sum {dec['count_s_first']:.2f} s "
                f"(best {dec['count_s_best']:.2f}), ids {dec['ids_s']:.2f} s, "
                f"ix_delete_after {'yes' if dec['explain_count']['uses_ix_delete_after'] else 'no'}")
            # Steady state: a daily sweep sees about one day's worth of newly due footage.
            day = await decide(engine, now - timedelta(days=59), keep, fetch_ids=False)
            data["decision_day"] = day
            say(f"decision (one day): {day['count']:,} due, {day['count_s_first']:.3f} s")

            if not args.skip_sweep:
                sweep_as_of, full_due = as_of, dec["count"]
                subset = bool(args.sweep_limit and args.sweep_limit < full_due)
                if subset:
                    async with engine.connect() as c:
                        cut = (await c.execute(select(Recording.delete_after).where(
                            retention_repo.due(as_of, keep)).order_by(Recording.delete_after)
                            .offset(args.sweep_limit - 1).limit(1))).scalar_one()
                    sweep_as_of = cut
                    async with engine.connect() as c:
                        expected = (await c.execute(select(func.count()).where(
                            retention_repo.due(sweep_as_of, keep)))).scalar_one()
                else:
                    expected = full_due
                say(f"sweeping {expected:,} due recordings (as_of {sweep_as_of.isoformat()}) ...")
                with tempfile.TemporaryDirectory(prefix="bwv-bench-retention-") as tmp:
                    sw = await run_sweep(url, sweep_as_of, Path(tmp), expected, protected_ids)
                sw.update(as_of=sweep_as_of.isoformat(), subset=subset, full_due=full_due)
                if subset:
                    sw["extrapolated_full_s"] = sw["seconds"] * full_due / max(1, sw["deleted"])
                    data["notes"].append(f"sweep ran on a subset ({sw['deleted']:,} of {full_due:,} due); "
                                         f"full time extrapolated linearly: {sw['extrapolated_full_s']:.0f} s")
                data["sweep"] = sw
                say(f"sweep: {sw['deleted']:,} in {sw['seconds']:.1f} s ({sw['per_s']:,.0f}/s), "
                    f"checks {'ok' if sw['ok'] else 'FAILED'}; phases {sw['phases']}")
                if not sw["ok"]:
                    data["notes"].append(f"SWEEP CHECKS FAILED: {sw['checks']}")
                async with engine.connect() as c:
                    await c.exec_driver_sql("ANALYZE recordings")
                    await c.commit()
                after = await decide(engine, now + timedelta(days=2), keep, fetch_ids=False)
                data["decision_after"] = after
                say(f"decision (next day, after sweep): {after['count']:,} due, {after['count_s_first']:.3f} s")
        finally:
            await engine.dispose()

        if not args.skip_s3:
            say(f"S3 deletes on moto: {args.objects:,} objects per measurement ...")
            data["s3"] = await s3_bench(args.objects, args.objects_versioned or args.objects)
    finally:
        if args.keep_db:
            say(f"kept database {dbname}: {url}")
        else:
            admin = await asyncpg.connect(admin_dsn)
            await admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            await admin.close()

    text, md = build_report(args, data)
    print()
    print(text)
    for n in data["notes"]:
        print("note:", n)
    md_path, js_path = write_report(args.report_name, md, data)
    print(f"\nwrote {md_path.relative_to(ROOT)} and {js_path.relative_to(ROOT)}")
    ok = data.get("sweep", {}).get("ok", True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
