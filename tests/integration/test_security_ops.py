"""Issue 12, operational promises under attack (API.md): oversized bodies are refused before they are
read (6), public statistics cannot single out an event (11), nothing at rest is readable by other local
users and S3 objects are encrypted (13), and the production stack does not undo the object lock (14)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from service.bodylimit import BODY_LIMIT
from service.config import ConfigError, Settings
from service.context import build_context
from service.db import transaction
from service.migrations import upgrade
from service.recordings.models import Recording
from service.retention import objectlock
from service.retention.sweep import sweep
from tests.fixtures.media import cached_clip
from tests.fixtures.s3 import make_bucket, s3_client
from tests.fixtures.services import create_database, drop_database, pg_url
from tests.fixtures.stack import ADMIN, ROOT, iso, start_stack

MiB = 1024 * 1024


# ---- 6. oversized bodies ------------------------------------------------------------------------------

def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"{field} missing from /proc/self/status")


def reset_peak_rss() -> None:
    """Reset VmHWM so it records the peak from now on (Linux: /proc/PID/clear_refs, value 5)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


class Feed:
    """A request body the client streams chunk by chunk, counting what the server actually pulled."""

    def __init__(self, total: int, chunk: int = 256 * 1024, data: bytes | None = None) -> None:
        self.total, self.chunk, self.data, self.pulled = total, chunk, data, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        block = b" " * self.chunk
        while self.pulled < self.total:
            n = min(self.chunk, self.total - self.pulled)
            piece = self.data[self.pulled:self.pulled + n] if self.data is not None else block[:n]
            self.pulled += n
            yield piece


def _problem(r, status: int, slug: str) -> dict:
    assert r.status_code == status, r.text[:500]
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["type"].endswith("/" + slug)
    return body


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize("token", [False, True], ids=["anonymous", "dock"])
async def test_a_200_mib_json_body_is_refused_before_it_is_read(stack, declared, token):
    size = 200 * MiB
    feed = Feed(size)
    headers = {"Content-Type": "application/json", **(stack.dock if token else {})}
    if declared:
        headers["Content-Length"] = str(size)
    rss_before = _status_kib("VmRSS")
    reset_peak_rss()
    r = await stack.client.post("/v1/uploads", content=feed, headers=headers)
    growth_mib = (_status_kib("VmHWM") - rss_before) / 1024
    body = _problem(r, 413, "body-too-large")
    assert body["limit_bytes"] == BODY_LIMIT
    # The server stopped pulling at the limit (plus the chunk that crossed it), never the whole body.
    assert feed.pulled <= (0 if declared else BODY_LIMIT + feed.chunk), feed.pulled
    # A memory bound, not a timing one: buffering the body costs 200-400 MiB, refusing it almost nothing.
    assert growth_mib < 50, f"peak RSS grew by {growth_mib:.0f} MiB"


def _padded(meta: dict, size: int) -> bytes:
    raw = json.dumps(meta).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))  # trailing whitespace is valid JSON


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_json_at_the_limit_is_answered_and_one_byte_more_is_not(stack, declared):
    data = os.urandom(1000)
    for size, want in ((BODY_LIMIT - 1, 201), (BODY_LIMIT, 201), (BODY_LIMIT + 1, 413)):
        meta = stack.upload_meta(data, device_id=f"cam-limit-{size}-{declared}")
        raw = _padded(meta, size)
        content = raw if declared else Feed(len(raw), data=raw)
        r = await stack.client.post("/v1/uploads", content=content,
                                    headers={"Content-Type": "application/json", **stack.dock})
        assert r.status_code == want, (size, r.text[:300])
    # Without a token, a body under the limit gets its ordinary answer (401), not 413.
    r = await stack.client.post("/v1/uploads", content=_padded({}, BODY_LIMIT - 1),
                                headers={"Content-Type": "application/json"})
    _problem(r, 401, "missing-token")
    # The refused request created nothing: the same upload asked for again is new (201), not resumed (200).
    again = await stack.client.post("/v1/uploads", json=meta, headers=stack.dock)
    assert again.status_code == 201, again.text


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_console_form_post_is_capped_too(stack, declared):
    size = 8 * MiB
    feed = Feed(size)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if declared:
        headers["Content-Length"] = str(size)
    r = await stack.client.post("/ui/login", content=feed, headers=headers)
    _problem(r, 413, "body-too-large")
    assert feed.pulled <= BODY_LIMIT + feed.chunk


async def _open_multipart_uploads(stack) -> list:
    if stack.mode != "pg_s3":
        return []
    client = s3_client(stack.settings.s3_endpoint_url)
    try:
        bucket = stack.settings.object_store_url.removeprefix("s3://").split("/")[0]
        return client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    finally:
        client.close()


async def test_a_65_mib_part_is_refused_stores_nothing_and_the_upload_still_completes(stack):
    data = os.urandom(66 * MiB)
    meta = stack.upload_meta(data)
    created = await stack.client.post("/v1/uploads", json=meta, headers=stack.dock)
    assert created.status_code == 201, created.text
    up = created.json()["upload_id"]
    big = data[:65 * MiB]
    # Declared too large: refused before the token is even looked at (no token here: 413, not 401).
    r = await stack.client.put(f"/v1/uploads/{up}/parts/1", content=Feed(len(big), data=big),
                               headers={"Content-Length": str(len(big))})
    _problem(r, 413, "part-too-large")
    # Streamed without a length by the dock: cut off at the limit while streaming into storage.
    feed = Feed(len(big), chunk=MiB, data=big)
    r = await stack.client.put(f"/v1/uploads/{up}/parts/1", content=feed, headers=stack.dock)
    _problem(r, 413, "part-too-large")
    assert feed.pulled <= stack.settings.max_part_size + MiB
    status = (await stack.client.get(f"/v1/uploads/{up}", headers=stack.dock)).json()
    assert status["parts"] == [] and status["received_bytes"] == 0
    assert await stack.ctx.store.list("uploads/") == []
    assert await _open_multipart_uploads(stack) == []
    # The dock re-sends the file in parts that fit; it completes with the server's own hash.
    half = len(data) // 2
    for n, (a, b) in enumerate(((0, half), (half, len(data))), start=1):
        pr = await stack.client.put(f"/v1/uploads/{up}/parts/{n}", content=data[a:b], headers=stack.dock)
        assert pr.status_code == 200, pr.text
    done = await stack.client.post(f"/v1/uploads/{up}/complete", headers=stack.dock)
    assert done.status_code == 201, done.text
    assert done.json()["sha256"] == hashlib.sha256(data).hexdigest()


# ---- 11. public statistics count whole months only ----------------------------------------------------

def _month(t: datetime) -> tuple[int, int]:
    return t.year, t.month


def _month_start(t: datetime) -> datetime:
    return datetime(t.year, t.month, 1, tzinfo=UTC)


# Uploads placed on both sides of month boundaries, to the microsecond.
SEEDED = [datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC),
          datetime(2026, 1, 15, 12, tzinfo=UTC), datetime(2026, 1, 31, 23, 59, 59, 999000, tzinfo=UTC),
          datetime(2026, 2, 1, 0, 0, 0, 1000, tzinfo=UTC), datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC),
          datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 6, 30, 23, 59, 59, 999999, tzinfo=UTC)]
NEAR_SEEDED = st.builds(lambda t, d: t + timedelta(microseconds=d), st.sampled_from(SEEDED),
                        st.integers(min_value=-2000, max_value=2000))
INSTANTS = st.one_of(NEAR_SEEDED, st.datetimes(min_value=datetime(2025, 10, 1), max_value=datetime(2026, 9, 30),
                                               timezones=st.just(UTC)))
STATS_SETTINGS = settings(max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


async def _seed_uploads(stack) -> None:
    if getattr(stack, "_stats_seeded", False):
        return
    ids = []
    for i, _ in enumerate(SEEDED):
        r = await stack.upload(os.urandom(2000) + bytes([i]), parts=1)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    async with transaction(stack.ctx.sessions) as s:
        for rid, at in zip(ids, SEEDED, strict=True):
            await s.execute(update(Recording).where(Recording.id == rid).values(received_at=at))
    stack._stats_seeded = True


async def _stats(stack, a: datetime, b: datetime):
    return await stack.client.get("/v1/stats", params={"from": iso(a), "to": iso(b)})


@STATS_SETTINGS
@given(a=INSTANTS, b=INSTANTS)
async def test_any_window_answers_exactly_its_whole_months(stack, a, b):
    await _seed_uploads(stack)
    r = await _stats(stack, a, b)
    if _month(a) > _month(b):
        _problem(r, 422, "invalid-window")
        return
    assert r.status_code == 200, r.text
    body = r.json()
    # The same answer as the enclosing whole months asked for plainly ...
    assert body == (await _stats(stack, _month_start(a), _month_start(b))).json()
    # ... and those months' true counts: never a part of a month.
    inside = [t for t in SEEDED if _month(a) <= _month(t) <= _month(b)]
    assert body["totals"]["uploaded"] == len(inside)
    per_month = {f"{t.year:04d}-{t.month:02d}": 0 for t in inside}
    for t in inside:
        per_month[f"{t.year:04d}-{t.month:02d}"] += 1
    assert {m["month"]: m["uploaded"] for m in body["months"]} == per_month
    assert body["from"] == iso(_month_start(a))
    last = _month_start(b)
    assert body["to"] == iso(_month_start(last + timedelta(days=32)))


async def test_narrowing_windows_around_a_restriction_learn_nothing(stack):
    """The reviewer's attack: many ever narrower windows to pin down when footage was restricted."""
    r = await stack.upload(os.urandom(3000))
    rec = r.json()["id"]
    before = datetime.now(UTC)
    rr = await stack.client.post(f"/v1/recordings/{rec}/restrict", json={"people": ["det-1"], "reason": "incident"},
                                 headers=stack.auth("sgt", "supervisor"))
    assert rr.status_code == 200, rr.text
    t = datetime.now(UTC)  # the secret lies in [before, t]
    start = _month_start(before)
    whole = (await _stats(stack, start, start)).json()
    assert whole["totals"]["restricted"] == 1
    answers = []
    # Windows a millisecond wide around the event, on either side of it, and a binary search as the
    # attacker ran it: lo..mid "did it happen here?", halving each time.
    for k in range(1, 12):
        d = timedelta(milliseconds=k)
        for a, b in ((before - d, before - d + timedelta(milliseconds=1)), (t + d, t + d + timedelta(milliseconds=1)),
                     (before - d, t + d)):
            answers.append((await _stats(stack, a, b)).json())
    lo, hi = start, _month_start(start + timedelta(days=32))
    while hi - lo > timedelta(milliseconds=1):
        mid = lo + (hi - lo) / 2
        got = (await _stats(stack, lo, mid - timedelta(microseconds=1))).json()
        answers.append(got)
        lo, hi = (lo, mid) if got["totals"]["restricted"] else (mid, hi)
    # Every window inside the event's month gets the whole month's answer: the attacker learns the month.
    same_month = [a for a in answers if a["from"] == whole["from"] and a["to"] == whole["to"]]
    assert len(same_month) == len(answers) and all(a == whole for a in answers)
    if before - start > timedelta(seconds=1):
        assert not (lo <= before and t <= hi), "the binary search pinned the restriction"


# ---- 13. nothing at rest is readable by other local users ---------------------------------------------

def _exposed(root) -> tuple[list[str], list[str]]:
    """(every path under root, those a group or other user could read, write or enter)."""
    seen, bad = [], []
    for dirpath, _dirs, filenames in os.walk(root):
        for p in [dirpath] + [os.path.join(dirpath, n) for n in filenames]:
            mode = os.lstat(p).st_mode & 0o777
            seen.append(os.path.relpath(p, root))
            if mode & 0o077:
                bad.append(f"{os.path.relpath(p, root)} {oct(mode)}")
    return seen, bad


async def _bundle_and_redaction(st) -> None:
    data = cached_clip(seconds=4, width=320, height=240, gop_s=1.0).read_bytes()
    rec = (await st.upload(data, parts=2, device_id="cam-modes")).json()
    await st.drain_jobs()
    dis = st.auth("dc-1", "disclosure")
    cid = (await st.client.post("/v1/cases", json={"urn": "URN-MODES", "title": "R v Modes"}, headers=dis)).json()["id"]
    r = await st.client.post(f"/v1/cases/{cid}/items", json={"recording_id": rec["id"], "exhibit_ref": "M/1",
                                                             "clip_start_s": 1.0, "clip_end_s": 3.0}, headers=dis)
    assert r.status_code == 201, r.text
    bid = (await st.client.post(f"/v1/cases/{cid}/bundles", headers=dis)).json()["bundle_id"]
    await st.drain_jobs()
    assert (await st.client.get(f"/v1/bundles/{bid}", headers=dis)).json()["status"] == "ready"
    sar_h = st.auth("sar-1", "sar_handler")
    now = datetime.now(UTC)
    sar = (await st.client.post("/v1/sars", json={
        "requester": "A Requester", "contact": "a@example.org", "received_at": iso(now), "description": "modes",
        "query": {"from": iso(now - timedelta(days=1)), "to": iso(now)}}, headers=sar_h)).json()
    item = (await st.client.post(f"/v1/sars/{sar['id']}/items", json={"recording_id": rec["id"]},
                                 headers=sar_h)).json()
    plan = {"auto_faces": False, "boxes": [{"start_s": 0.5, "end_s": 2.0, "x": 10, "y": 10, "w": 50, "h": 40}],
            "mute": []}
    r = await st.client.post(f"/v1/sars/{sar['id']}/items/{item['id']}/redaction", json=plan, headers=sar_h)
    assert r.status_code == 202, r.text
    await st.drain_jobs()
    got = (await st.client.get(f"/v1/sars/{sar['id']}", headers=sar_h)).json()
    assert got["items"][0]["redaction"]["status"] == "ready", got
    assert (await st.client.post(f"/v1/sars/{sar['id']}/disclose", json={}, headers=sar_h)).status_code == 202
    await st.drain_jobs()


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask-022", "umask-000"])
async def test_nothing_at_rest_is_readable_by_other_local_users(tmp_path, umask):
    data_dir = tmp_path / "data"
    old = os.umask(umask)
    try:
        # As `bwv serve` starts in embedded mode: check settings, migrate, make secret.key once.
        settings = Settings(data_dir=data_dir, policy_dir=ROOT / "policies")
        settings.validate_startup()
        upgrade(settings.db_url)
        settings.signing_key()
        st = await start_stack("embedded", tmp_path)
        try:
            await _bundle_and_redaction(st)
            seen, bad = _exposed(data_dir)  # while the database is open: -wal and -shm exist
        finally:
            await st.stop()
    finally:
        os.umask(old)
    assert {"bwv.db", "bwv.db-wal", "bwv.db-shm", "secret.key", "objects"} <= set(seen), seen
    stored = [p for p in seen if p.startswith("objects/")]
    assert len(stored) >= 6, stored  # recording, clip, bundle, redacted copy and log, SAR bundle
    assert bad == [], bad


# ---- 13. S3 server-side encryption of every object ----------------------------------------------------

@contextlib.asynccontextmanager
async def s3_stack(request, tmp_path, **settings) -> AsyncIterator:
    """A PostgreSQL + S3 (Object Lock) + Redis stack like the ``stack`` fixture's, with extra settings."""
    template = request.getfixturevalue("pg_template")
    endpoint = request.getfixturevalue("s3_endpoint")
    name = await create_database(template)
    bucket = make_bucket(endpoint, object_lock=True)
    st = await start_stack("pg_s3", tmp_path, database_url=pg_url(name), storage_url=f"s3://{bucket}",
                           s3_endpoint_url=endpoint, redis_url="redis://127.0.0.1:6379/0",
                           queue_name=f"bwv-test:{uuid.uuid4().hex[:8]}", **settings)
    try:
        yield st, bucket, endpoint
    finally:
        await st.stop()
        await drop_database(name)


def _heads(endpoint: str, bucket: str) -> dict[str, dict]:
    """HeadObject of every version of every object in the bucket."""
    client = s3_client(endpoint)
    try:
        out = {}
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for v in page.get("Versions", []):
                out[f"{v['Key']}@{v['VersionId']}"] = client.head_object(Bucket=bucket, Key=v["Key"],
                                                                         VersionId=v["VersionId"])
        return out
    finally:
        client.close()


@pytest.mark.parametrize("sse,key_id", [("AES256", None), ("aws:kms", "bwv-footage-key")], ids=["aes256", "kms"])
async def test_every_object_written_to_s3_is_encrypted(request, tmp_path, sse, key_id):
    async with s3_stack(request, tmp_path, s3_sse=sse, s3_sse_kms_key_id=key_id) as (st, bucket, endpoint):
        # Each write path: one small part (CopyObject), small parts (streamed PutObject), big parts
        # (one multipart upload), then a clip bundle, a redacted copy and a SAR bundle.
        for parts, size in ((1, 40_000), (3, 90_000), (2, 12 * MiB)):
            r = await st.upload(os.urandom(size), parts=parts)
            assert r.status_code == 201, r.text
        await _bundle_and_redaction(st)
        heads = _heads(endpoint, bucket)
    # Four recordings, the case bundle, the redacted copy and the SAR bundle (staged parts are gone).
    prefixes = [k.split("/")[0] for k in heads]
    assert sorted(set(prefixes)) == ["audit", "bundles", "recordings", "sar"] and len(heads) >= 7, sorted(heads)
    plain = [k for k, h in heads.items() if h.get("ServerSideEncryption") != sse]
    assert plain == [], plain
    if key_id:
        assert {h.get("SSEKMSKeyId") for h in heads.values()} == {key_id}


@pytest.mark.parametrize("over,words", [
    ({"s3_sse": "AES128"}, "is not one of AES256, aws:kms"),
    ({"s3_sse": "aes256"}, "is not one of"),
    ({"s3_sse": "AES256", "s3_sse_kms_key_id": "k"}, "needs BWV_S3_SSE=aws:kms"),
    ({"s3_sse_kms_key_id": "k"}, "BWV_S3_SSE is not 'aws:kms'"),
    ({"s3_sse": "AES256", "storage_url": None}, "is for s3:// storage"),
])
def test_a_bad_encryption_setting_stops_start_up_with_one_clear_line(tmp_path, over, words):
    settings = {"data_dir": tmp_path, "policy_dir": ROOT / "policies", "storage_url": "s3://bwv-footage", **over}
    with pytest.raises(ConfigError) as e:
        build_context(Settings(**settings))
    assert words in str(e.value) and "\n" not in str(e.value)


# ---- 14. the object lock holds: COMPLIANCE retention rolled forward, never back -----------------------

def _lock(stack, key: str) -> tuple[str | None, datetime | None, str | None]:
    """(mode, retain-until, legal hold) from HeadObject (moto has no GetObjectRetention)."""
    client = s3_client(stack.settings.s3_endpoint_url)
    try:
        h = client.head_object(Bucket=stack.settings.object_store_url.removeprefix("s3://"), Key=key)
    finally:
        client.close()
    return h.get("ObjectLockMode"), h.get("ObjectLockRetainUntilDate"), h.get("ObjectLockLegalHoldStatus")


async def _storage_key(stack, rid: str) -> str:
    async with stack.ctx.sessions() as s:
        return (await s.execute(select(Recording.storage_key).where(Recording.id == rid))).scalar_one()


async def test_protected_footage_gets_compliance_retention_rolled_forward_never_back(stack):
    sup = stack.auth("sgt-1", "supervisor")
    flagged, held, routine = [(await stack.upload(os.urandom(5000 + i))).json()["id"] for i in range(3)]
    started = datetime.now(UTC)
    r = await stack.client.post(f"/v1/recordings/{flagged}/flags", headers=sup,
                                json={"category": "evidence", "reference": "OL/1", "reason": "assault"})
    assert r.status_code == 201, r.text
    flag_id = r.json()["id"]
    r = await stack.client.post("/v1/holds", headers=sup, json={"kind": "legal", "reference": "L/1", "reason": "claim",
                                                                "recording_ids": [held]})
    assert r.status_code == 201, r.text
    keys = {rid: await _storage_key(stack, rid) for rid in (flagged, held, routine)}
    store = stack.ctx.store
    if stack.mode == "embedded":
        # A local disk has no Object Lock: the interface says so and sets nothing.
        assert await store.extend_retention(keys[flagged], started + timedelta(days=400)) is False
        assert await objectlock.roll_forward(stack.ctx) == 0
        return

    first = objectlock.horizon(stack.settings, started)
    assert first >= started + timedelta(days=stack.settings.object_lock_retain_days)
    for rid in (flagged, held):
        mode, until, legal = _lock(stack, keys[rid])
        assert (mode, legal) == ("COMPLIANCE", "ON") and until >= first, (rid, mode, until, legal)
    assert _lock(stack, keys[routine])[:2] == (None, None)

    # Asked for an earlier date (a stale process, a shorter setting): the date stays where it was.
    assert await store.extend_retention(keys[flagged], started + timedelta(days=1)) is True
    assert _lock(stack, keys[flagged])[1] == _lock(stack, keys[held])[1] >= first
    # The roll extends every protected object to the new horizon, and a shorter horizon changes nothing.
    stack.settings.object_lock_retain_days = 90
    assert await objectlock.roll_forward(stack.ctx) == 2
    rolled = _lock(stack, keys[flagged])[1]
    assert rolled >= started + timedelta(days=90) and _lock(stack, keys[held])[1] == rolled
    stack.settings.object_lock_retain_days = 10
    assert await objectlock.roll_forward(stack.ctx) == 2
    assert _lock(stack, keys[flagged])[1] == _lock(stack, keys[held])[1] == rolled

    # Unflagged: the legal hold is released at once, the retention is left to run out and no longer rolls.
    r = await stack.client.request("DELETE", f"/v1/flags/{flag_id}", json={"reason": "no crime"}, headers=sup)
    assert r.status_code == 200, r.text
    assert _lock(stack, keys[flagged]) == ("COMPLIANCE", rolled, "OFF")
    stack.settings.object_lock_retain_days = 200
    assert await objectlock.roll_forward(stack.ctx) == 1
    assert _lock(stack, keys[flagged])[1] == rolled and _lock(stack, keys[held])[1] > rolled
    # The consequence (objectlock.py, README): until the retention runs out, storage refuses the sweep's
    # delete; the recording stays, is reported, and is deleted by a sweep after that date.
    stack.settings.allow_clock_override = True
    report = await sweep(stack.ctx, ADMIN, as_of=started + timedelta(days=60))
    assert report.refused == 1 and report.deleted == 1  # the routine recording went
    r = await stack.client.get(f"/v1/recordings/{flagged}", headers=sup)
    assert r.status_code == 200 and r.json()["status"] == "active"


# ---- 14. the production stack: only the API published, the app not MinIO's root -----------------------

# Each S3 call the app makes at run time (service/storage/s3.py and cold.py) and the IAM actions it needs. A new call
# fails the test below until its permission is decided here and in infra/minio/bwv-app-policy.json.
S3_CALL_ACTIONS = {
    "put_object": {"s3:PutObject"}, "create_multipart_upload": {"s3:PutObject"}, "upload_part": {"s3:PutObject"},
    "complete_multipart_upload": {"s3:PutObject"}, "abort_multipart_upload": {"s3:AbortMultipartUpload"},
    "upload_part_copy": {"s3:PutObject", "s3:GetObject"}, "copy_object": {"s3:PutObject", "s3:GetObject"},
    "get_object": {"s3:GetObject"}, "head_object": {"s3:GetObject"}, "head_bucket": {"s3:ListBucket"},
    "list_objects_v2": {"s3:ListBucket"}, "list_object_versions": {"s3:ListBucketVersions"},
    "list_multipart_uploads": {"s3:ListBucketMultipartUploads"},
    "delete_objects": {"s3:DeleteObject", "s3:DeleteObjectVersion"},
    "get_bucket_versioning": {"s3:GetBucketVersioning"},
    "get_object_lock_configuration": {"s3:GetBucketObjectLockConfiguration"},
    "put_object_legal_hold": {"s3:PutObjectLegalHold"}, "put_object_retention": {"s3:PutObjectRetention"},
    "list_parts": {"s3:ListMultipartUploadParts"},  # is a lost assembly gone? (ingest, issue 16)
    "restore_object": {"s3:RestoreObject"},  # the cold tier asks archive storage for a copy back (issue 17)
}
SETUP_ONLY_CALLS = {"create_bucket", "put_bucket_lifecycle_configuration"}  # ensure_bucket: tests, bwv demo
NEVER_THE_APP = {"s3:BypassGovernanceRetention", "s3:DeleteBucket", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy",
                 "s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning", "s3:PutLifecycleConfiguration",
                 "s3:CreateBucket", "s3:*", "*", "admin:*"}


def _compose() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_publishes_only_the_api_and_gives_the_app_no_root_key():
    compose = _compose()
    services = compose["services"]
    published = {name: [str(p) for p in svc.get("ports", [])] for name, svc in services.items() if svc.get("ports")}
    assert published.pop("api") == ["8000:8000"]
    for name, ports in published.items():  # anything else: optional, and this host only
        assert "profiles" in services[name] and all(p.startswith("127.0.0.1:") for p in ports), (name, ports)
    assert "ports" not in services["minio"] and "9001" not in json.dumps(services["minio"])
    env = compose["x-bwv-env"]
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert "MINIO_ROOT" not in env[var], env[var]
    for svc in ("api", "worker", "migrate"):
        assert "MINIO_ROOT" not in json.dumps(services[svc]), svc
    assert "bwvminio-secret" not in (ROOT / "docker-compose.yml").read_text()  # no default root password
    setup = "\n".join(services["minio-setup"]["command"])
    for step in ("--with-lock", "admin policy create local bwv-app /setup/bwv-app-policy.json",
                 "admin user add local", "admin policy attach local bwv-app"):
        assert step in setup, step
    assert "./infra/minio/bwv-app-policy.json:/setup/bwv-app-policy.json:ro" in services["minio-setup"]["volumes"]


def test_the_apps_minio_policy_is_least_privilege_and_enough():
    policy = json.loads((ROOT / "infra" / "minio" / "bwv-app-policy.json").read_text())
    allowed: set[str] = set()
    for stmt in policy["Statement"]:
        assert stmt["Effect"] == "Allow" and "NotAction" not in stmt and "NotResource" not in stmt
        assert all(r in ("arn:aws:s3:::bwv-footage", "arn:aws:s3:::bwv-footage/*") for r in stmt["Resource"])
        allowed |= set(stmt["Action"])
    assert not allowed & NEVER_THE_APP and not any("*" in a for a in allowed), allowed
    source = "\n".join((ROOT / "service" / "storage" / f).read_text() for f in ("s3.py", "cold.py"))
    calls = set(re.findall(r'_call\("([a-z0-9_]+)"', source)) | set(re.findall(r'get_paginator\("([a-z0-9_]+)"\)',
                                                                                source))
    unknown = calls - set(S3_CALL_ACTIONS) - SETUP_ONLY_CALLS
    assert not unknown, f"decide the permission for {unknown}"
    needed = set().union(*(S3_CALL_ACTIONS[c] for c in calls - SETUP_ONLY_CALLS))
    assert needed <= allowed, needed - allowed
