"""Rule 6 for the cold tier: a move killed at any moment loses nothing and leaves no copy unaccounted for.

After every kill: each recording's copy of record (``storage_key``, in its tier's store) is there and is its
bytes (hot and local cold copies are read and hashed; an archived S3 copy cannot be read, so S3's SHA-256
checksum of it is compared); every stored object (every version, on S3) under the recording's name is the
row's ``storage_key`` or ``other_key``, one version each: never two live copies of which one is unknown.
At the end every recording is cold, has exactly one ``recording.moved_to_cold`` event, and a second copy
only where storage must still keep it (S3 Object Lock retention on evidence's hot original).

The deterministic case (a crash after the copy, before the catalogue update) runs on both stacks in the
default suite, as does a short SIGKILL campaign on the embedded stack; the long campaign (``-m long``)
kills ``bwv cold move`` many times on both stacks. Kill times come from a seeded random
(``BWV_CRASH_SEED`` to replay); failures print them.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from service.audit.models import AuditEvent
from service.coldtier import service as coldtier
from service.coldtier.tasks import move_to_cold
from service.db import transaction
from service.recordings.models import Recording
from tests.fixtures.s3 import TEST_ENV, s3_client
from tests.helpers import ROOT, bin_path, iso

LATER = timedelta(days=400)


async def _seed(stack, n: int, size: int) -> list[str]:
    sup = stack.auth("sup-1", "supervisor")
    ids = []
    for i in range(n):
        data = random.Random(i).randbytes(size)
        r = await stack.upload(data, parts=2, device_id=f"cam-crash-{i}")
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        fr = await stack.client.post(f"/v1/recordings/{rid}/flags", json={"reference": f"CR/{i}"}, headers=sup)
        assert fr.status_code == 201, fr.text
        ids.append(rid)
    return ids


async def _sha(store, key: str) -> str | None:
    h = hashlib.sha256()
    try:
        async for chunk in store.read(key):
            h.update(chunk)
    except Exception:
        return None
    return h.hexdigest()


async def _check(stack, ids: list[str], *, final: bool = False, why: str = "") -> dict[str, int]:
    cold = stack.ctx.cold
    async with stack.ctx.sessions() as s:
        rows = {r.id: r for r in (await s.execute(select(Recording).where(Recording.id.in_(ids)))).scalars()}
        moved = dict((await s.execute(select(AuditEvent.object_id, func.count())
                                      .where(AuditEvent.action == "recording.moved_to_cold",
                                             AuditEvent.object_id.in_(ids))
                                      .group_by(AuditEvent.object_id))).all())
    named: dict[str, str] = {}
    for r in rows.values():
        assert r.status == "active", why
        if r.storage_tier == "cold" and cold.archive:
            assert await cold.verified(r.storage_key, r.sha256) is not None, (why, r.id)
        else:
            assert await _sha(cold.store_of(r.storage_tier), r.storage_key) == r.sha256, (why, r.id, r.storage_tier)
        assert moved.get(r.id, 0) == (1 if r.storage_tier == "cold" else 0), (why, r.id)
        named[r.storage_key] = r.id
        if r.other_key:
            named[r.other_key] = r.id
    if cold.archive:
        client = s3_client(stack.settings.s3_endpoint_url)
        bucket = stack.settings.storage_url.removeprefix("s3://").split("/")[0]
        versions: dict[str, int] = {}
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                if any(i in v["Key"] for i in ids):
                    versions[v["Key"]] = versions.get(v["Key"], 0) + 1
        stored = set(versions)
        assert all(n == 1 for n in versions.values()), (why, versions)
    else:
        stored = {o.key for o in await stack.ctx.store.list("") if any(i in o.key for i in ids)}
        stored |= {o.key for o in await cold.store.list("") if any(i in o.key for i in ids)}
    assert stored <= set(named), (why, sorted(stored - set(named)))
    counts = {"cold": sum(r.storage_tier == "cold" for r in rows.values()),
              "mid_move": sum(r.storage_tier == "hot" and bool(r.other_key) for r in rows.values()),
              "second_copies": sum(bool(r.other_key) for r in rows.values())}
    if final:
        assert counts["cold"] == len(ids), (why, counts)
        for r in rows.values():
            if cold.archive:  # evidence's hot original is kept by its COMPLIANCE retention, and named
                assert r.other_key in (None, r.storage_key.removeprefix("cold/")), (why, r.id, r.other_key)
            else:
                assert r.other_key is None, (why, r.id, r.other_key)
    return counts


async def test_a_crash_between_the_copy_and_the_catalogue_finishes_without_a_second_copy(stack):
    stack.ctx.settings.allow_clock_override = True
    ids = await _seed(stack, 2, 300_000)
    as_of = datetime.now(UTC) + LATER
    async with transaction(stack.ctx.sessions) as s:
        items = await coldtier.claim_moves(s, stack.ctx, as_of, 10)
    assert sorted(i.recording_id for i in items) == sorted(ids)
    for item in items:  # the copy lands (and is verified); then the process "dies" before the swap
        await stack.ctx.cold.copy_in(item.src, item.dst, item.sha256, item.size)
    counts = await _check(stack, ids, why="after the copies, before the catalogue")
    assert counts["mid_move"] == 2
    report = await move_to_cold(stack.ctx, as_of=iso(as_of))
    assert report["resumed"] == 2 and report["moved"] == 2 and report["failed"] == 0, report
    await _check(stack, ids, final=True, why="after the next run")


def _env(stack) -> dict[str, str]:
    s = stack.settings
    env = {**os.environ, "BWV_DATABASE_URL": s.db_url, "BWV_DATA_DIR": str(s.data_dir),
           "BWV_SECRET_KEY": s.secret_key, "BWV_POLICY_DIR": str(s.policy_dir), "BWV_ALLOW_CLOCK_OVERRIDE": "1",
           "BWV_LOG_FORMAT": "console", "PYTHONPATH": str(ROOT)}
    if s.storage_url:
        env.update(TEST_ENV, BWV_STORAGE_URL=s.storage_url, BWV_S3_ENDPOINT_URL=s.s3_endpoint_url)
    return env


async def _state(stack, ids: list[str]) -> frozenset:
    async with stack.ctx.sessions() as s:
        return frozenset((await s.execute(select(Recording.id, Recording.storage_tier, Recording.other_key)
                                          .where(Recording.id.in_(ids)))).all())


async def _campaign(stack, *, recordings: int, size: int, kills: int, jitter: float, batch: int) -> dict:
    """Run ``bwv cold move`` and SIGKILL it ``kills`` times, each a random 0-``jitter`` s after it has
    started moving (so every kill lands in the move, not in start-up), checking after each."""
    stack.ctx.settings.allow_clock_override = True
    ids = await _seed(stack, recordings, size)
    seed = int(os.environ.get("BWV_CRASH_SEED", random.randrange(10**6)))
    rng = random.Random(seed)
    as_of = iso(datetime.now(UTC) + LATER)
    # Small batches: kills land before, between and after the batches' swaps and clean-ups.
    args = ["cold", "move", "--as-of", as_of, "--batch", str(batch)]
    killed, mid, left = [], 0, 0
    for _ in range(kills):
        before = await _state(stack, ids)
        delay = rng.uniform(0, jitter)
        proc = await asyncio.create_subprocess_exec(bin_path("bwv"), *args, env=_env(stack),
                                                    stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.DEVNULL)
        # Wait until this run has changed something (a claim, a swap, a clean-up), then kill it a moment later.
        while proc.returncode is None and await _state(stack, ids) == before:  # noqa: ASYNC110 - polls the DB
            await asyncio.sleep(0.01)
        await asyncio.sleep(delay)
        if proc.returncode is None:
            proc.kill()
            killed.append(round(delay, 3))
        await proc.wait()
        counts = await _check(stack, ids, why=f"seed {seed}, kills {delay:.3f} s into the move: {killed}")
        mid += counts["mid_move"]
        left += counts["second_copies"] - counts["mid_move"]
        if counts["cold"] == len(ids):
            break
    proc = await asyncio.create_subprocess_exec(bin_path("bwv"), *args, env=_env(stack),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode == 0, (seed, killed, out.decode()[-3000:])
    await _check(stack, ids, final=True, why=f"seed {seed}, kills {killed}")
    print(f"cold crash campaign ({stack.mode}): seed {seed}, {len(killed)} kills {killed} s into the move, "
          f"{mid} recordings caught between claim and catalogue, {left} between catalogue and clean-up")
    return {"seed": seed, "kills": killed, "mid_move": mid, "before_cleanup": left}


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
async def test_bwv_cold_move_killed_a_few_times_loses_nothing(stack):
    await _campaign(stack, recordings=10, size=2_000_000, kills=3, jitter=0.3, batch=3)


@pytest.mark.long
async def test_bwv_cold_move_killed_many_times_loses_nothing(stack):
    await _campaign(stack, recordings=40, size=3_000_000, kills=12, jitter=1.0, batch=5)
