"""Rule 6 for retention: ``bwv retention sweep`` SIGKILLed at random moments deletes nothing it should
not, and the next run finishes the job (API.md: "the sweep is idempotent and safe to kill at any point").

A data directory (SQLite + disk; or PostgreSQL + moto's S3 server with an Object Lock bucket) is seeded
directly with thousands of recordings: evidence, complaints and held footage (half of them with a stale
``delete_after`` already in the past, which the sweep must see through), unflagged and released footage,
training footage that is not due yet, and plain footage past due. Then the real CLI sweeps as of 40 days
ahead and is killed at a random moment, several times, before a last run is let finish. After every
kill and at the end: nothing protected or not yet due is gone, every ``deleted`` row has lost its object
and has exactly one ``recording.deleted`` audit event, no object lacks a row, every ``active`` row has
its object, and ``bwv audit verify`` passes; at the end nothing due is left and nothing is ``deleting``.

The kill times come from a seeded random (``BWV_CRASH_SEED`` to replay one); failures print them.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from service.audit.models import AuditEvent
from service.db import make_engine
from service.ids import new_id
from service.policies import RetentionPolicy, load_file
from service.recordings.models import Recording
from service.retention import rules
from service.retention.models import Flag, Hold, HoldRecording, Sweep
from tests.fixtures.s3 import TEST_ENV, make_bucket, s3_client
from tests.fixtures.services import create_database, drop_database, pg_url, run_async
from tests.helpers import ROOT, bin_path, iso

SECRET = "retention-crash-secret"


@dataclass
class Site:
    """Where one campaign's data lives, and how to reach it from here and from the CLI."""

    mode: str
    env: dict[str, str]
    db_url: str
    log_dir: Path = Path(".")
    objects: Path | None = None  # embedded: the LocalStore root
    endpoint: str | None = None  # pg_s3
    bucket: str | None = None
    database: str | None = None

    def bwv(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([bin_path(), *args], env=self.env, cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout)

    # ---- storage, seen from outside the service --------------------------------------------

    def put_objects(self, objects: dict[str, bytes]) -> None:
        if self.objects is not None:
            base = self.objects / "recordings"
            base.mkdir(parents=True, exist_ok=True)
            for key, data in objects.items():
                (self.objects / key).write_bytes(data)
            return
        client = s3_client(self.endpoint)
        try:
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda kv: client.put_object(Bucket=self.bucket, Key=kv[0], Body=kv[1]),
                              objects.items()))
        finally:
            client.close()

    def any_gone(self, keys: list[str]) -> bool:
        if self.objects is not None:
            return any(not (self.objects / k).exists() for k in keys)
        client = s3_client(self.endpoint)
        try:
            for k in keys:
                try:
                    client.head_object(Bucket=self.bucket, Key=k)
                except client.exceptions.ClientError:
                    return True
            return False
        finally:
            client.close()

    def stored(self) -> tuple[set[str], set[str]]:
        """(keys with a current object, keys with any stored bytes at all: every S3 version counts)."""
        if self.objects is not None:
            base = self.objects / "recordings"
            keys = {f"recordings/{p.name}" for p in base.iterdir() if p.is_file() and not p.name.startswith(".")}
            return keys, keys
        client = s3_client(self.endpoint)
        try:
            current, anything = set(), set()
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix="recordings/"):
                current.update(o["Key"] for o in page.get("Contents", []))
            for page in client.get_paginator("list_object_versions").paginate(Bucket=self.bucket,
                                                                               Prefix="recordings/"):
                anything.update(v["Key"] for v in page.get("Versions", []))
            return current, anything
        finally:
            client.close()


@dataclass
class Seeded:
    as_of: datetime
    keys: dict[str, str] = field(default_factory=dict)  # recording id -> storage key
    protected: set[str] = field(default_factory=set)  # kept flag or active hold: never deleted
    not_due: set[str] = field(default_factory=set)  # unprotected but not due at as_of (training)
    due: set[str] = field(default_factory=set)  # must be gone once a sweep has finished


def _policy() -> RetentionPolicy:
    return load_file(ROOT / "policies" / "retention.yaml", RetentionPolicy)


async def _seed(site: Site, n: int, rng: random.Random, seeded: Seeded) -> Seeded:
    """Add ``n`` recordings (rows, flags, holds and objects) to the site and to ``seeded``."""
    policy = _policy()
    now = datetime.now(UTC)
    recs, flags, links, objects = [], [], [], {}
    hold_id, released_id = new_id("hld"), new_id("hld")
    holds = [
        {"id": hold_id, "kind": "legal", "reference": "LH/CRASH", "reason": "civil claim", "created_by": "seed",
         "created_at": now - timedelta(days=1), "released_by": None, "released_at": None, "released_reason": None},
        {"id": released_id, "kind": "complaint", "reference": "PSD/OLD", "reason": "complaint",
         "created_by": "seed", "created_at": now - timedelta(days=5), "released_by": "seed",
         "released_at": now - timedelta(days=2), "released_reason": "resolved"},
    ]
    for i in range(n):
        rid = new_id("rec")
        data = rng.randbytes(rng.randint(16, 256))
        received = now - timedelta(seconds=rng.uniform(0, 60 * 86400))
        untrusted = rng.random() < 0.05
        start = received - timedelta(seconds=rng.uniform(60, 3 * 86400))
        end = start + timedelta(seconds=rng.uniform(10, 3600))
        basis = (received, received) if untrusted else (start, end)
        key = f"recordings/{rid}"
        kind = rng.choices(["evidence", "complaint", "held", "unflagged", "released", "training", "plain"],
                           [10, 3, 5, 5, 3, 20, 54])[0]
        cats: list[tuple[str, datetime]] = []
        flagged_at = received + timedelta(seconds=rng.uniform(0, 86400))
        if kind in ("evidence", "complaint", "unflagged", "training"):
            category = "evidence" if kind == "unflagged" else kind
            removed = kind == "unflagged"
            flags.append({"id": new_id("flg"), "recording_id": rid, "category": category,
                          "reference": f"REF/{i}", "reason": "seed", "created_by": "seed", "created_at": flagged_at,
                          "removed_by": "seed" if removed else None,
                          "removed_at": flagged_at + timedelta(hours=1) if removed else None,
                          "removed_reason": "no offence" if removed else None})
            if not removed:
                cats.append((category, flagged_at))
        if kind in ("held", "released"):
            links.append({"hold_id": hold_id if kind == "held" else released_id, "recording_id": rid,
                          "added_at": now - timedelta(days=3)})
        protected = kind in ("evidence", "complaint", "held")
        delete_after = rules.delete_after(policy, basis_start=basis[0], received_at=received, categories=cats,
                                          held=kind == "held")
        if protected and rng.random() < 0.5:
            # Stale: as if computed before the flag or hold; the sweep re-checks protection whatever it says.
            delete_after = rules.delete_after(policy, basis_start=basis[0], received_at=received)
        recs.append({
            "id": rid, "device_id": f"cam-{rng.randrange(200)}", "officer_id": f"pc-{rng.randrange(300)}",
            "dock_id": "dock-1", "upload_id": new_id("up"), "filename": f"{i}.mp4", "content_type": "video/mp4",
            "size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "storage_key": key,
            "received_at": received, "recorded_start": start, "recorded_end": end,
            "device_clock_at_dock": received - timedelta(days=9000) if untrusted else received,
            "drift_s": 9000 * 86400.0 if untrusted else 0.0, "time_trust": "untrusted" if untrusted else "device",
            "trusted_start": None if untrusted else start, "trusted_end": None if untrusted else end,
            "basis_start": basis[0], "basis_end": basis[1], "media": None, "media_status": "done",
            "status": "active", "retention_category": cats[0][0] if cats else "default",
            "delete_after": delete_after, "restricted": False,
        })
        objects[key] = data
        seeded.keys[rid] = key
        if protected:
            seeded.protected.add(rid)
        elif kind == "training":
            assert delete_after > seeded.as_of
            seeded.not_due.add(rid)
        else:
            assert delete_after <= seeded.as_of
            seeded.due.add(rid)
    site.put_objects(objects)
    engine = make_engine(site.db_url)
    try:
        async with engine.begin() as conn:
            for i in range(0, len(recs), 500):
                await conn.execute(insert(Recording), recs[i:i + 500])
            await conn.execute(insert(Hold), holds)
            if flags:
                await conn.execute(insert(Flag), flags)
            if links:
                await conn.execute(insert(HoldRecording), links)
    finally:
        await engine.dispose()
    return seeded


class Probe:
    """One database connection that watches from outside: statuses, audit events, the sweep's start.
    Its coroutines run on a loop in a thread of its own (the test itself is synchronous)."""

    NAME = "retention-crash-probe"

    def __init__(self, site: Site) -> None:
        self.site = site
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="crash-probe", daemon=True)
        self.thread.start()
        kw = {} if site.mode == "embedded" else {"connect_args": {"server_settings": {"application_name": self.NAME}}}
        self.engine = self._run(self._make(kw))

    async def _make(self, kw: dict[str, Any]):
        # Not service.db.make_engine: its BEGIN IMMEDIATE would queue the probe behind the sweep's writes.
        return create_async_engine(self.site.db_url, **kw)

    def _run(self, coro) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(120)

    def _scalar(self, stmt) -> Any:
        async def go():
            async with self.engine.connect() as conn:
                return (await conn.execute(stmt)).scalar_one()
        return self._run(go())

    def close(self) -> None:
        self._run(self.engine.dispose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def sweeps(self) -> int:
        return self._scalar(select(func.count()).select_from(Sweep))

    def deleted(self) -> int:
        return self._scalar(select(func.count()).select_from(Recording).where(Recording.status == "deleted"))

    def other_clients(self) -> int:
        return self._scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            f"AND pid <> pg_backend_pid() AND application_name <> '{self.NAME}'"))

    def rows(self) -> tuple[dict[str, str], dict[str, int]]:
        async def go():
            async with self.engine.connect() as conn:
                status = dict((await conn.execute(select(Recording.id, Recording.status))).all())
                events = dict((await conn.execute(
                    select(AuditEvent.object_id, func.count()).where(AuditEvent.action == "recording.deleted")
                    .group_by(AuditEvent.object_id))).all())
            return status, events
        return self._run(go())


def check(site: Site, probe: Probe, seeded: Seeded, *, final: bool) -> dict[str, int]:
    status, events = probe.rows()
    current, anything = site.stored()
    problems: list[str] = []

    def bad(what: str, ids) -> None:
        ids = sorted(ids)
        if ids:
            problems.append(f"{what}: {len(ids)} e.g. {ids[:5]}")

    assert set(status) == set(seeded.keys), "rows appeared or vanished"
    by = {s: {rid for rid, st in status.items() if st == s} for s in ("active", "deleting", "deleted")}
    bad("unknown statuses", set(status) - by["active"] - by["deleting"] - by["deleted"])
    keep = seeded.protected | seeded.not_due
    bad("protected or not-due recordings not active", keep - by["active"])
    bad("protected or not-due recordings lost their bytes", {r for r in keep if seeded.keys[r] not in current})
    bad("active rows whose object is missing", {r for r in by["active"] if seeded.keys[r] not in current})
    bad("deleted rows whose bytes remain", {r for r in by["deleted"] if seeded.keys[r] in anything})
    bad("deleted rows without exactly one recording.deleted event", {r for r in by["deleted"] if events.get(r) != 1})
    bad("recording.deleted events for rows not deleted", set(events) - by["deleted"])
    bad("objects without a row (orphans)", {k for k in anything if k.removeprefix("recordings/") not in status})
    if final:
        bad("rows left deleting", by["deleting"])
        bad("due recordings still active", seeded.due & by["active"])
    assert not problems, "\n".join(problems)
    verify = site.bwv("audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    counts = {k: len(v) for k, v in by.items()}
    counts["deleting, bytes gone"] = sum(1 for r in by["deleting"] if seeded.keys[r] not in anything)
    return counts


def campaign(site: Site, *, n: int, kills: int, rows_per_s: float) -> None:
    """Seed ``n`` recordings, then ``kills`` sweeps killed at random moments, then one let finish.

    Each kill falls at a random moment of one of three kinds: while the process is still starting
    (imports, migrations, connecting); inside the sweep's work, after its row appears and within how
    long the rest should take at ``rows_per_s`` (re-estimated from what each run got done); or up to
    0.2 s after storage lost the first bytes of a watched recording, where objects are gone and the
    batch may not have committed yet."""
    seed = int(os.environ.get("BWV_CRASH_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    started = time.monotonic()
    seeded = run_async(_seed, site, n, rng, Seeded(as_of=datetime.now(UTC) + timedelta(days=40)))
    log: list[str] = [f"seed {seed}: {n} recordings ({len(seeded.due)} due, {len(seeded.protected)} protected, "
                      f"{len(seeded.not_due)} not due) seeded in {time.monotonic() - started:.1f}s"]
    sweep = [bin_path(), "retention", "sweep", "--as-of", iso(seeded.as_of)]
    env = {**site.env, "BWV_ALLOW_CLOCK_OVERRIDE": "1"}
    probe = Probe(site)
    startup = 2.0
    try:
        for k in range(kills):
            if probe.deleted() == len(seeded.due):  # all done: more footage docks, so the next kill has work
                run_async(_seed, site, n // 4, rng, seeded)
                log.append(f"seeded {n // 4} more ({len(seeded.due)} due in all)")
            before_sweeps, before_deleted = probe.sweeps(), probe.deleted()
            remaining = len(seeded.due) - before_deleted
            status, _ = probe.rows()
            left = sorted(r for r in seeded.due if status[r] != "deleted")
            watch = [seeded.keys[r] for r in rng.sample(left, min(5, len(left)))]
            how = rng.choices(["starting", "sweeping", "bytes gone"], [2, 4, 4])[0]
            t0 = time.monotonic()
            err = open(site.log_dir / f"sweep-{k + 1}.log", "w")  # noqa: SIM115 - closed below
            proc = subprocess.Popen(sweep, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
            try:
                if how == "starting":
                    delay, t_ready = rng.uniform(0.05, startup), t0
                else:
                    while proc.poll() is None and probe.sweeps() == before_sweeps:
                        time.sleep(0.005)
                    t_ready = time.monotonic()
                    startup = t_ready - t0
                    if how == "sweeping":
                        delay = rng.uniform(0.0, 0.05 + 1.2 * remaining / rows_per_s)
                    else:  # just after storage lost the first bytes: before or after the batch commits
                        while proc.poll() is None and watch and not site.any_gone(watch):
                            time.sleep(0.005)
                        delay = time.monotonic() - t_ready + rng.uniform(0.0, 0.2)
                try:
                    proc.wait(timeout=max(0.0, t_ready + delay - time.monotonic()))
                    outcome = f"finished first (rc {proc.returncode})"
                except subprocess.TimeoutExpired:
                    proc.kill()  # SIGKILL: no handler, no cleanup
                    proc.wait()
                    outcome = "killed"
            finally:
                err.close()
            t_end = time.monotonic()
            if proc.returncode not in (0, -9):
                raise AssertionError(f"sweep {k + 1} failed: " + (site.log_dir / f"sweep-{k + 1}.log").read_text()[-3000:])
            if site.mode == "pg_s3":
                # The killed client's backend rolls back once it notices; until then its row locks
                # would make the next sweep skip (SKIP LOCKED) what it was deleting.
                deadline = time.monotonic() + 30
                while probe.other_clients() and time.monotonic() < deadline:
                    time.sleep(0.05)
            done = probe.deleted() - before_deleted
            if done and how == "sweeping":
                rows_per_s = max(1.0, done / max(0.01, t_end - t_ready))
            counts = check(site, probe, seeded, final=False)
            where = "after start" if how == "starting" else f"after the sweep began ({startup:.2f}s to start)"
            log.append(f"run {k + 1} ({how}): {delay:.3f}s {where}: {outcome}; deleted {done} of {remaining}; "
                       f"{counts}")
        done = subprocess.run(sweep, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        log.append(f"final run: {last}")
        log.append(f"final: {check(site, probe, seeded, final=True)}")
    except BaseException:
        print("\n".join(["retention crash campaign (replay with BWV_CRASH_SEED):", *log]), file=sys.stderr)
        raise
    finally:
        probe.close()
    print("\n".join(log))


# ---- the two sites --------------------------------------------------------------------------------

def embedded_site(tmp_path: Path) -> Site:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BWV_")}
    env.update(BWV_DATA_DIR=str(data), BWV_SECRET_KEY=SECRET, BWV_POLICY_DIR=str(ROOT / "policies"),
               BWV_LOG_LEVEL="WARNING")
    site = Site("embedded", env, db_url=f"sqlite+aiosqlite:///{data / 'bwv.db'}", log_dir=tmp_path,
                objects=data / "objects")
    migrated = site.bwv("migrate")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    return site


def pg_s3_site(tmp_path: Path, endpoint: str, database: str) -> Site:
    bucket = make_bucket(endpoint, object_lock=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BWV_")}
    env.update(TEST_ENV, BWV_DATA_DIR=str(tmp_path / "data"), BWV_SECRET_KEY=SECRET,
               BWV_POLICY_DIR=str(ROOT / "policies"), BWV_DATABASE_URL=pg_url(database),
               BWV_STORAGE_URL=f"s3://{bucket}", BWV_S3_ENDPOINT_URL=endpoint, BWV_LOG_LEVEL="WARNING")
    site = Site("pg_s3", env, db_url=pg_url(database), log_dir=tmp_path, endpoint=endpoint, bucket=bucket,
                database=database)
    migrated = site.bwv("migrate")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    return site


def test_sweep_killed_at_random_moments(tmp_path):
    campaign(embedded_site(tmp_path), n=2000, kills=3, rows_per_s=4000)


@pytest.mark.long
@pytest.mark.timeout(1200)
def test_sweep_killed_at_random_moments_long(tmp_path):
    campaign(embedded_site(tmp_path), n=5000, kills=20, rows_per_s=4000)


@pytest.mark.long
@pytest.mark.timeout(1800)
def test_sweep_killed_at_random_moments_pg_s3_long(tmp_path, services_up, s3_endpoint):
    database = run_async(create_database)
    try:
        campaign(pg_s3_site(tmp_path, s3_endpoint, database), n=5000, kills=20, rows_per_s=1000)
    finally:
        run_async(drop_database, database)
