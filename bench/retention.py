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
from service.policies import load_policies  # noqa: E402
from service.recordings.models import Recording  # noqa: E402
from service.retention import repository as retention_repo  # noqa: E402
from service.retention.service import keep_categories  # noqa: E402

POLICY_DIR = ROOT / "policies"
REPORTS_DIR = ROOT / "bench" / "reports"
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
    access = []  # how recordings is read: the scan nodes on it or on one of its indexes
    for n in nodes:
        if (" on recordings" in n or " on ix_recordings" in n or " on ix_bench" in n) and n not in access:
            access.append(n.replace("Parallel ", ""))
    return {"uses_ix_delete_after": "ix_recordings_delete_after" in text, "recordings_access": access,
            "indexes": sorted({w for w in text.replace("(", " ").split() if w.startswith(("ix_", "pk_", "uq_"))}),
            "nodes": nodes, "execution_ms": exec_ms, "plan": text}


# ---- 1. load ------------------------------------------------------------------------------------

_B32 = "0123456789abcdefghjkmnpqrstvwxyz"  # service.ids' alphabet


def ulid_at(prefix: str, ms: int, rng: random.Random) -> str:
    """An id as service.ids.new_id makes it, at a given time: 48-bit ms + 80 random bits, base32.

    Storage keys are recordings/<id> with the id minted at upload time, so the bucket's key order is
    upload order, which is what S3Store's one-listing-per-batch delete relies on."""
    value = (ms << 80) | rng.getrandbits(80)
    chars = []
    for _ in range(26):
        chars.append(_B32[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


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


def gen_rows(start: int, kinds: list[str], now: datetime, seed: int
             ) -> tuple[list[tuple[Any, ...]], dict[str, list[str]]]:
    rng = random.Random(seed * 1_000_003 + start)
    day, hour = 86400.0, 3600.0
    rows = []
    special: dict[str, list[str]] = {}
    for j, kind in enumerate(kinds):
        i = start + j
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
        # Docked at the end of the shift; 3 % of cameras stay undocked for days.
        lag = rng.uniform(1 * day, 10 * day) if rng.random() < 0.03 else rng.uniform(0.5 * hour, 12 * hour)
        received = min(now, basis_start + dur + timedelta(seconds=lag))
        rid = ulid_at("rec", int(received.timestamp() * 1000), rng)
        if kind not in ("future", "past"):
            special.setdefault(kind, []).append(rid)
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
    return rows, special


PARTIAL_INDEX = ("CREATE INDEX ix_bench_recordings_active_delete_after ON recordings (delete_after) "
                 "WHERE status = 'active'")


async def load(url_pg: str, n: int, now: datetime, seed: int, stale_frac: float, decoy_frac: float,
               partial_index: bool = False) -> dict[str, Any]:
    kinds = plan_kinds(n, seed, stale_frac, decoy_frac)
    conn = await asyncpg.connect(url_pg)
    out: dict[str, Any] = {"kinds": {k: kinds.count(k) for k in KINDS}}
    try:
        t0 = time.perf_counter()
        gen_s = 0.0
        pending: asyncio.Task[Any] | None = None
        by_kind: dict[str, list[str]] = {k: [] for k in KINDS}
        for start in range(0, n, CHUNK_ROWS):
            g0 = time.perf_counter()
            # Generate the next chunk in a thread while PostgreSQL ingests the previous one.
            rows, special = await asyncio.to_thread(gen_rows, start, kinds[start:start + CHUNK_ROWS], now, seed)
            for k, ids in special.items():
                by_kind[k] += ids
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
        if partial_index:
            await conn.execute(PARTIAL_INDEX)
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


async def explain_claim(engine: Any, as_of: datetime, keep: list[str]) -> dict[str, Any]:
    """EXPLAIN ANALYZE of the sweep's claim query (as repository.claim_due builds it), rolled back."""
    q = (select(Recording).where(retention_repo.due(as_of, keep)).order_by(Recording.delete_after).limit(1000)
         .with_for_update(skip_locked=True, of=Recording))
    async with engine.connect() as c:
        tx = await c.begin()
        plan = [r[0] for r in (await c.execute(Explain(q))).all()]
        await tx.rollback()
    out = plan_summary(plan)
    # Rows the scan of recordings read and threw away (tombstones still in the delete_after range).
    removed, in_scan = 0, False
    for line in plan:
        if "->" in line or line.lstrip().startswith(("Limit", "Index Scan", "Seq Scan")):
            in_scan = " on recordings" in line
        elif in_scan and "Rows Removed by Filter" in line:
            removed += int(line.split(":")[1])
    out["rows_removed"] = removed
    return out


async def model_versioned_deletes(engine: Any, as_of: datetime, keep: list[str], batch: int = 1000
                                  ) -> dict[str, Any]:
    """What S3Store.delete would send for this sweep on a versioned bucket holding every recording's object
    (one version each): the sweep's real batches (claim order, 1,000 keys), the store's rule (one listing
    of the batch's common prefix unless more than max(10 x keys, 10,000) entries sit under it, else
    11 wasted pages and one listing per key), objects leaving the bucket batch by batch."""
    from bisect import bisect_left

    async with engine.connect() as c:
        all_keys = sorted((await c.execute(select(Recording.storage_key))).scalars())
        due_keys = list((await c.execute(select(Recording.storage_key).where(retention_repo.due(as_of, keep))
                                         .order_by(Recording.delete_after))).scalars())
    n = len(all_keys)
    pos = {k: i for i, k in enumerate(all_keys)}
    tree = [0] * (n + 1)  # Fenwick tree: objects still in the bucket
    for i in range(1, n + 1):
        tree[i] += 1
        j = i + (i & -i)
        if j <= n:
            tree[j] += tree[i]

    def present_before(i: int) -> int:
        total = 0
        while i > 0:
            total += tree[i]
            i -= i & -i
        return total

    def remove(i: int) -> None:
        i += 1
        while i <= n:
            tree[i] -= 1
            i += i & -i

    one = fallback = list_requests = listed = 0
    prefix_lens: list[int] = []
    unders: list[int] = []
    for b in range(0, len(due_keys), batch):
        keys = due_keys[b:b + batch]
        common = os.path.commonprefix(sorted(keys))
        prefix_lens.append(len(common) - len("recordings/rec_"))
        lo, hi = bisect_left(all_keys, common), bisect_left(all_keys, common + "\U0010ffff")
        under = present_before(hi) - present_before(lo)
        unders.append(under)
        budget = max(10 * len(keys), 10_000)
        if len(keys) > 1 and under <= budget:
            one += 1
            list_requests += max(1, -(-under // 1000))
            listed += under
        else:
            fallback += 1
            wasted = budget // 1000 + 1 if len(keys) > 1 else 0
            list_requests += wasted + len(keys)
            listed += wasted * 1000 + len(keys)
        for k in keys:
            remove(pos[k])
    batches = one + fallback
    return {"bucket_objects": n, "due": len(due_keys), "batches": batches, "one_listing": one,
            "fallback_per_key": fallback, "median_objects_under_prefix": statistics.median(unders) if unders else 0,
            "list_requests": list_requests, "list_requests_per_1000_keys": list_requests / max(1, len(due_keys)) * 1000,
            "entries_listed": listed, "median_common_id_chars": statistics.median(prefix_lens) if prefix_lens else 0}


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


def count_calls(client: Any) -> dict[str, int]:
    calls: dict[str, int] = {}

    def hook(model: Any, **_: Any) -> None:
        calls[model.name] = calls.get(model.name, 0) + 1

    client.meta.events.register("before-call.s3", hook)
    return calls


async def compare_deletes(endpoint: str, client: Any, n: int, lock: bool, tag: str) -> dict[str, Any]:
    """(a) raw DeleteObjects vs (b) S3Store.delete, n fresh objects each in its own fresh bucket.

    Batches alternate a, b, a, b … so both see the same machine load (the host is shared)."""
    from service.storage.s3 import S3Store
    from tests.fixtures.s3 import make_bucket

    bucket_a, bucket_b = make_bucket(endpoint, object_lock=lock), make_bucket(endpoint, object_lock=lock)
    keys_a = [f"recordings/rec_{tag}a_{i:08d}" for i in range(n)]
    keys_b = [f"recordings/rec_{tag}b_{i:08d}" for i in range(n)]
    t = time.perf_counter()
    vids = await asyncio.to_thread(put_many, client, bucket_a, keys_a)
    await asyncio.to_thread(put_many, client, bucket_b, keys_b)
    put_s = time.perf_counter() - t
    say(f"  put {2 * n:,} objects ({'Object Lock' if lock else 'plain'}) in {put_s:.1f} s ({2 * n / put_s:,.0f}/s)")

    store = S3Store(bucket_b, endpoint_url=endpoint)
    store_calls = count_calls(store._client)  # instrumentation only: which requests the store sends
    raw_calls = {"DeleteObjects": 0}
    try:
        # Warm both paths (connections, botocore operation models, the store's versioning check, which a
        # long-lived store caches): each deletes one key that does not exist.
        client.delete_objects(Bucket=bucket_a, Delete={"Objects": [{"Key": "warm-up"}], "Quiet": True})
        await store.delete(["warm-up"])
        store_calls.clear()
        raw_s = store_s = 0.0
        raw_batches, store_batches = [], []
        for i in range(0, n, 1000):
            objs = [{"Key": k, "VersionId": vids[k]} if lock else {"Key": k} for k in keys_a[i:i + 1000]]
            t = time.perf_counter()
            resp = await asyncio.to_thread(client.delete_objects, Bucket=bucket_a,
                                           Delete={"Objects": objs, "Quiet": True})
            dt = time.perf_counter() - t
            raw_s += dt
            raw_batches.append(dt)
            raw_calls["DeleteObjects"] += 1
            if resp.get("Errors"):
                raise RuntimeError(f"raw delete_objects errors: {resp['Errors'][:3]}")
            t = time.perf_counter()
            failed = await store.delete(keys_b[i:i + 1000])  # the sweep hands the store 1,000 at a time
            dt = time.perf_counter() - t
            store_s += dt
            store_batches.append(dt)
            if failed:
                raise RuntimeError(f"S3Store.delete refused {len(failed)} keys, e.g. {failed[:3]}")
    finally:
        await store.close()
    left_a = remaining(client, bucket_a, "recordings/", lock)
    left_b = remaining(client, bucket_b, "recordings/", lock)
    return {"objects": n, "put_s": put_s, "raw_s": raw_s, "raw_per_s": n / raw_s, "store_s": store_s,
            "store_per_s": n / store_s, "ratio": raw_s / store_s, "left_raw": left_a, "left_store": left_b,
            "raw_batch_ms_median": statistics.median(raw_batches) * 1000,
            "store_batch_ms_median": statistics.median(store_batches) * 1000,
            "ratio_of_medians": statistics.median(raw_batches) / statistics.median(store_batches),
            "raw_requests": raw_calls, "store_requests": dict(store_calls)}


async def s3_bench(n: int, n_versioned: int) -> dict[str, Any]:
    from tests.fixtures.s3 import start_moto_server, stop_moto_server

    os.environ.update(AWS_ENV)
    endpoint, proc = start_moto_server()
    out: dict[str, Any] = {"objects": n, "objects_versioned": n_versioned, "endpoint": "moto server (subprocess)"}
    client = _client(endpoint)
    try:
        r = out["plain"] = await compare_deletes(endpoint, client, n, False, "p")
        say(f"  plain bucket: raw {r['raw_per_s']:,.0f}/s, S3Store {r['store_per_s']:,.0f}/s, ratio {r['ratio']:.2f} "
            f"(medians {r['ratio_of_medians']:.2f})")
        # Object Lock (versioned): the raw baseline deletes each (Key, VersionId) it got back from PUT.
        r = out["object_lock"] = await compare_deletes(endpoint, client, n_versioned, True, "v")
        say(f"  Object Lock bucket: raw (Key+VersionId) {r['raw_per_s']:,.0f}/s, S3Store {r['store_per_s']:,.0f}/s, "
            f"ratio {r['ratio']:.2f}; store requests {r['store_requests']}")
    finally:
        client.close()
        stop_moto_server(proc)
    return out


# ---- report -------------------------------------------------------------------------------------

def fmt_s(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f} s"


def findings_for(data: dict[str, Any]) -> list[str]:
    """Performance problems the figures show, with their cause (kept to what this run measured)."""
    out = []
    sw = data.get("sweep")
    if sw and sw.get("claim_first_ms") and sw["claim_last_ms"] > 5 * sw["claim_first_ms"]:
        share = sw["phases"].get("claim_due", 0) / sw["seconds"]
        out.append(
            f"`repository.claim_due` gets slower batch after batch ({sw['claim_first_ms']:.0f} ms → "
            f"{sw['claim_last_ms']:.0f} ms; {share:.0%} of the sweep). It walks ix_recordings_delete_after from the "
            "oldest entry and filters `status = 'active'` row by row, so every tombstone a sweep leaves behind "
            "(status 'deleted', delete_after still set) is read again by every later claim: quadratic within a "
            "sweep, and in steady state every daily claim re-reads all tombstones ever written. Fix: a partial "
            "index `(delete_after) WHERE status = 'active'` (a migration; the planner picks it for the same query).")
    s3, vm = data.get("s3"), data.get("versioned_model")
    if s3 and s3["object_lock"]["ratio"] < S3_RATIO_TARGET:
        r = s3["object_lock"]
        req = ", ".join(f"{k} {v:,}" for k, v in r["store_requests"].items())
        out.append(
            f"`S3Store.delete` on an Object-Lock (versioned) bucket: {r['store_per_s']:,.0f} obj/s against "
            f"{r['raw_per_s']:,.0f} obj/s for DeleteObjects with known VersionIds (b/a {r['ratio']:.2f}; requests "
            f"{req} for {r['objects']:,} keys). The store must find each key's versions before deleting; the "
            "bench's keys share one long prefix, the best case for its one-listing-per-batch path.")
    if vm and vm["fallback_per_key"]:
        out.append(
            f"With keys minted like production (recordings/<time-ordered id at upload>, 3 % docked 1-10 days late) "
            f"and the sweep's own batches (delete_after order), {vm['fallback_per_key']:,} of {vm['batches']:,} "
            f"batches have a common prefix covering more than the listing budget of 10,000 entries (median "
            f"{vm['median_objects_under_prefix']:,.0f} objects of {vm['bucket_objects']:,}), so they list 11 pages for nothing and "
            f"then one ListObjectVersions per key: {vm['list_requests_per_1000_keys']:,.0f} list requests per "
            "1,000 keys overall. A batch is ordered by capture time but keys by upload time: one late-docked "
            "straggler shortens the common prefix to months, and even a tidy batch spanning hours shares only a "
            "prefix whose window is 2^30 ms (12 days; base32 moves in steps of 32x), more than 10,000 objects at "
            "a force's density. Fix: keep the VersionId PutObject/CompleteMultipartUpload return on the "
            "recording and delete (Key, VersionId) directly (listing only rows without one), or list per key only "
            "for the stragglers (split the batch by prefix) instead of the whole batch.")
    return out


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
        rows.append(["  plan (count): how recordings is read", "",
                     "; ".join(dec["explain_count"]["recordings_access"]), ""])
    for key, label in (("decision_day", "decide: one day's due set, before the sweep"),
                       ("decision_after", "decide: next day, after the sweep (tombstones)")):
        d = data.get(key)
        if d:
            rows.append([f"{label} ({d['count']:,})", fmt_s(d["count_s_first"]),
                         f"best {d['count_s_best']:.3f} s; " + "; ".join(d["explain_count"]["recordings_access"]),
                         ""])
    ca = data.get("claim_after")
    if ca:
        rows.append(["claim_due query, next day after the sweep", f"{ca['execution_ms']:.0f} ms",
                     "; ".join(ca["recordings_access"]) + f"; read and skipped {ca['rows_removed']:,} tombstones (LIMIT 1000)", ""])
    sw = data.get("sweep")
    if sw:
        rows.append([f"sweep: {sw['deleted']:,} tombstoned" + (" (subset)" if sw.get("subset") else ""),
                     fmt_s(sw["seconds"]), f"{sw['per_s']:,.0f} rec/s", "checks " + ("ok" if sw["ok"] else "FAILED")])
        if sw.get("extrapolated_full_s"):
            rows.append([f"sweep: extrapolated to all {sw['full_due']:,} due", fmt_s(sw["extrapolated_full_s"]),
                         "linear", ""])
    vm = data.get("versioned_model")
    if vm:
        rows.append([f"S3Store.delete on a versioned bucket, modelled over this sweep's {vm['batches']:,} batches",
                     "", f"{vm['one_listing']:,} one listing, {vm['fallback_per_key']:,} per-key fallback "
                     f"(median {vm['median_objects_under_prefix']:,.0f} objects under a batch's common prefix); "
                     f"{vm['list_requests_per_1000_keys']:,.0f} ListObjectVersions per 1,000 keys", ""])
    s3 = data.get("s3")
    if s3:
        for key, label in (("plain", "plain bucket"), ("object_lock", "Object-Lock bucket")):
            r = s3[key]
            n = r["objects"]
            rows.append([f"S3 delete {n:,} ({label}): raw DeleteObjects", fmt_s(r["raw_s"]),
                         f"{r['raw_per_s']:,.0f} obj/s", ""])
            rows.append([f"S3 delete {n:,} ({label}): S3Store.delete", fmt_s(r["store_s"]),
                         f"{r['store_per_s']:,.0f} obj/s; requests "
                         + ", ".join(f"{k} {v:,}" for k, v in r["store_requests"].items()),
                         f"b/a {r['ratio']:.2f} (≥ 0.8: {'met' if r['ratio'] >= S3_RATIO_TARGET else 'NOT met'}); "
                         f"median batch ratio {r['ratio_of_medians']:.2f}"])
    headers = ["measure", "time", "rate / detail", "target"]
    text = text_table(headers, rows)

    md = [f"# Retention benchmark ({data['date']})", "",
          f"Machine: {m['cpu']}, nproc {m['nproc']}, RAM {m['ram_gib']} GiB, Python {m['python']}, "
          f"{data.get('postgres', '')}.",
          f"N = {args.recordings:,} recordings; S3 part: {args.objects:,} objects of 1 KiB on moto's S3 server.",
          f"Code: git {data['git']['head']}" + (f" with uncommitted changes in {', '.join(data['git']['dirty_service'])}"
                                                if data["git"]["dirty_service"] else "") + ". "
          f"Load average start/end: {' '.join(f'{x:.1f}' for x in data['loadavg_start'])} / "
          f"{' '.join(f'{x:.1f}' for x in data.get('loadavg_end', ()))} (the host is shared with other work; "
          "2 cores).",
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
        if ca:
            md += [f"### the sweep's claim query (claim_due), next day after the sweep ({ca['execution_ms']:.0f} ms)",
                   "", "```", ca["plan"], "```", ""]
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
               "(b) `S3Store.delete` called with 1,000 keys at a time, as the sweep does. Fresh objects in a fresh "
               "bucket for each, same client configuration, batches interleaved a, b, a, b (the host is shared); "
               "both paths warmed with one delete of a missing key first. Left-over objects after each: "
               + ", ".join(f"{k}: raw {s3[k]['left_raw']}, store {s3[k]['left_store']}" for k in ("plain", "object_lock"))
               + ".", ""]
    findings = findings_for(data)
    if findings:
        md += ["## Findings", ""] + [f"- {f}" for f in findings] + [""]
    if data.get("notes"):
        md += ["## Notes", ""] + [f"- {n}" for n in data["notes"]] + [""]
    return text, "\n".join(md)


def git_state() -> dict[str, Any]:
    import subprocess

    def git(*a: str) -> str:
        r = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True)
        return r.stdout.rstrip("\n")

    return {"head": git("rev-parse", "--short", "HEAD"),
            "dirty_service": [line[3:] for line in git("status", "--porcelain", "service").splitlines()]}


# ---- main ---------------------------------------------------------------------------------------

async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recordings", type=int, default=1_000_000)
    p.add_argument("--objects", type=int, default=20_000, help="objects per S3 measurement")
    p.add_argument("--objects-versioned", type=int, default=None,
                   help="objects for the Object-Lock bucket (default: min(--objects, 1000); S3Store lists "
                        "versions key by key and moto's ListObjectVersions scans the whole bucket, so this part "
                        "is quadratic on moto)")
    p.add_argument("--keep-db", action="store_true")
    p.add_argument("--sweep-limit", type=int, default=None,
                   help="sweep only the first N due rows (as_of moved back) and extrapolate")
    p.add_argument("--skip-sweep", action="store_true")
    p.add_argument("--with-partial-index", action="store_true",
                   help="experiment, not the shipped schema: add CREATE INDEX ... (delete_after) WHERE "
                        "status = 'active' after loading, to measure the proposed fix for claim_due")
    p.add_argument("--skip-s3", action="store_true")
    p.add_argument("--stale-frac", type=float, default=0.001)
    p.add_argument("--decoy-frac", type=float, default=0.001)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--report-name", default="retention")
    args = p.parse_args()

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    data: dict[str, Any] = {"date": now_iso(), "machine": machine_info(), "args": vars(args), "notes": [],
                            "git": git_state(), "loadavg_start": os.getloadavg()}
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
        ld = await load(pg_dsn, args.recordings, now, args.seed, args.stale_frac, args.decoy_frac,
                        args.with_partial_index)
        if args.with_partial_index:
            data["notes"].append(f"EXPERIMENT: extra partial index, not in the migrations: {PARTIAL_INDEX}")
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

            t = time.perf_counter()
            vm = data["versioned_model"] = await model_versioned_deletes(engine, as_of, keep)
            vm["model_s"] = time.perf_counter() - t
            say(f"versioned-bucket delete model: {vm['one_listing']:,} of {vm['batches']:,} batches in one listing, "
                f"{vm['fallback_per_key']:,} fall back to per-key; {vm['list_requests_per_1000_keys']:.0f} "
                f"ListObjectVersions per 1,000 keys")

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
                data["claim_after"] = await explain_claim(engine, now + timedelta(days=2), keep)
                say(f"claim_due query (next day, after sweep): {data['claim_after']['execution_ms']:.0f} ms, "
                    f"tombstones skipped: {data['claim_after']['rows_removed']:,}")
                say(f"decision (next day, after sweep): {after['count']:,} due, {after['count_s_first']:.3f} s")
        finally:
            await engine.dispose()

        if not args.skip_s3:
            say(f"S3 deletes on moto: {args.objects:,} objects per measurement ...")
            data["s3"] = await s3_bench(args.objects, args.objects_versioned or min(args.objects, 1000))
    finally:
        if args.keep_db:
            say(f"kept database {dbname}: {url}")
        else:
            admin = await asyncpg.connect(admin_dsn)
            await admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            await admin.close()

    data["loadavg_end"] = os.getloadavg()
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
