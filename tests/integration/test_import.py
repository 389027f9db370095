"""`bwv import` (issue 17): a legacy tree with good and bad rows goes through the dock's ingest rules, as the
person running it; re-running changes nothing; killed with SIGKILL half-way and re-run, every good row is in
exactly once, every bad row is listed with its reason and nothing else is stored."""

from __future__ import annotations

import csv
import hashlib
import os
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from service.audit.models import AuditEvent
from service.auth.schemas import Principal
from service.db import transaction
from service.imports import importer
from service.imports.manifest import parse
from service.imports.tree import open_tree
from service.recordings.models import Recording
from service.retention.models import Flag
from tests.helpers import bin_path, iso

PERSON = Principal(sub="ops-anna", roles=frozenset({"admin"}))
COLUMNS = ["path", "device_id", "officer_id", "recorded_start", "recorded_end", "source", "sha256", "category",
           "reference", "system", "site"]


def _manifest(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow(r)
    return path


def _tree(root: Path, sizes: dict[str, int]) -> dict[str, bytes]:
    out = {}
    for name, size in sizes.items():
        data = (hashlib.sha256(name.encode()).digest() * (size // 32 + 1))[:size]
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
        out[name] = data
    return out


def _rows(files: dict[str, bytes], old: datetime) -> tuple[list[dict], set[int]]:
    """Good rows first (numbers returned), then every kind of bad one."""
    end = old + timedelta(minutes=5)
    base = {"officer_id": "pc-7", "recorded_start": iso(old), "recorded_end": iso(end)}
    rows = [
        {**base, "path": "2019/a.mp4", "device_id": "cam-a"},
        {**base, "path": "2019/b.mp4", "device_id": "cam-b", "sha256": hashlib.sha256(files["2019/b.mp4"]).hexdigest(),
         "category": "evidence", "reference": "CR/123/19"},
        {**base, "path": "cctv/shop.dav", "device_id": "cctv-shop", "source": "cctv", "system": "Dahua NVR",
         "site": "High St"},
        {**base, "path": "calls/999.wav", "device_id": "control-room", "source": "audio"},
        # bad rows
        {**base, "path": "2019/c.mp4", "device_id": "cam-c", "sha256": "0" * 64},  # wrong hash
        {**base, "path": "2019/missing.mp4", "device_id": "cam-d"},
        {**base, "path": "2019/d.mp4", "device_id": "cam-e", "recorded_start": "yesterday"},
        {**base, "path": "2019/d.mp4", "device_id": "cam-e", "recorded_end": iso(old - timedelta(hours=1))},
        {**base, "path": "../outside.mp4", "device_id": "cam-f"},
        {**base, "path": "2019/link.mp4", "device_id": "cam-f"},  # a symlink out of the tree
        {**base, "path": "2019/a.mp4", "device_id": "cam-a"},  # the same file again
        {**base, "path": "2019/d.mp4", "device_id": "cam-e", "category": "nonsense", "reference": "x"},
    ]
    return rows, {1, 2, 3, 4}


async def _state(stack):
    async with transaction(stack.ctx.sessions) as s:
        recs = list((await s.execute(select(Recording))).scalars())
        flags = list((await s.execute(select(Flag))).scalars())
        events = list((await s.execute(select(AuditEvent).order_by(AuditEvent.seq))).scalars())
    return recs, flags, events


async def test_import_a_legacy_tree_with_bad_rows_then_again(stack, tmp_path, s3_endpoint):
    root = tmp_path / "legacy"
    files = _tree(root, {"2019/a.mp4": 40_000, "2019/b.mp4": 30_000, "cctv/shop.dav": 20_000,
                         "calls/999.wav": 10_000, "2019/c.mp4": 5_000, "2019/d.mp4": 5_000})
    (tmp_path / "outside.mp4").write_bytes(b"not yours")
    os.symlink(tmp_path / "outside.mp4", root / "2019/link.mp4")
    old = datetime(2019, 6, 1, 12, 0, tzinfo=UTC)
    rows, good = _rows(files, old)
    raw = _manifest(tmp_path / "m.csv", rows).read_bytes()
    where = str(root)
    if stack.mode == "pg_s3":  # the same tree from an S3 prefix (links do not exist there: that row is missing)
        from tests.fixtures.s3 import make_bucket, s3_client

        bucket, client = make_bucket(s3_endpoint), s3_client(s3_endpoint)
        for name, data in files.items():
            client.put_object(Bucket=bucket, Key=f"export/{name}", Body=data)
        where = f"s3://{bucket}/export"
    before = await _state(stack)
    manifest = parse(raw, "m.csv", system="Legacy DEMS")
    tree = open_tree(where, endpoint_url=stack.settings.s3_endpoint_url)
    try:
        # A dry run checks every row and stores nothing.
        dry = await importer.run(stack.ctx, PERSON, tree, manifest, dry_run=True)
        assert set(dry.checked) >= good and dry.imported == []
        assert len((await _state(stack))[0]) == len(before[0])
        report = await importer.run(stack.ctx, PERSON, tree, manifest)
        assert {n for n, _ in report.imported} == good, report
        reasons = {r.number: r.reason for r in report.refused}
        assert set(reasons) == set(range(5, 13)), reasons
        assert "hash-mismatch" in reasons[5]
        assert "no such file" in reasons[6] and "no such file" in reasons[10]
        assert "recorded_start" in reasons[7] and "before recorded_start" in reasons[8]
        assert "path" in reasons[9] and "same file as row 1" in reasons[11] and "nonsense" in reasons[12]

        recs, flags, events = await _state(stack)
        new = {r.id: r for r in recs} .keys() - {r.id for r in before[0]}
        assert len(new) == 4
        by_device = {r.device_id: r for r in recs if r.id in new}
        a, b = by_device["cam-a"], by_device["cam-b"]
        assert a.sha256 == hashlib.sha256(files["2019/a.mp4"]).hexdigest() and a.size_bytes == 40_000
        # Retention counts from when it was recorded (2019), floored by the policy's days after upload:
        # the import neither restarts nor shortens the clock.
        assert a.time_trust == "device" and a.basis_start == old
        floor = a.received_at + timedelta(days=stack.ctx.policies.retention.min_days_after_upload)
        assert a.delete_after == floor
        assert b.delete_after is None  # evidence, flagged in the transaction that created it
        assert [(f.category, f.reference, f.created_by) for f in flags if f.recording_id == b.id] == [
            ("evidence", "CR/123/19", "ops-anna")]
        shop = by_device["cctv-shop"]
        assert shop.source == "cctv" and shop.provenance["system"] == "Dahua NVR"
        assert shop.provenance["original_filename"] == "cctv/shop.dav" and shop.filename == "shop.dav"
        assert by_device["control-room"].source == "audio"
        assert by_device["control-room"].provenance["system"] == "Legacy DEMS"
        mine = [e for e in events if e.seq > (before[2][-1].seq if before[2] else 0)]
        assert {e.actor for e in mine if not e.actor.startswith("system:")} == {"ops-anna"}
        started = [e for e in mine if e.action == "import.started"]
        assert started[0].details["manifest_sha256"] == hashlib.sha256(raw).hexdigest()
        assert sum(e.action == "recording.created" for e in mine) == 4

        again = await importer.run(stack.ctx, PERSON, tree, manifest)
        assert again.imported == [] and {n for n, _ in again.skipped} == good
        assert [r.number for r in again.refused] == [r.number for r in report.refused]
        recs2, flags2, _ = await _state(stack)
        assert len(recs2) == len(recs) and len(flags2) == len(flags)
    finally:
        await tree.close()


# ---- the real command, killed half-way -----------------------------------------------------------


def _bwv(data_dir: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BWV_")}
    env.update(BWV_DATA_DIR=str(data_dir), BWV_SECRET_KEY="import-test-key",
               BWV_POLICY_DIR=str(Path(__file__).resolve().parents[2] / "policies"), COLUMNS="100",
               NO_COLOR="1", BWV_ACTOR="ops-anna", BWV_PART_SIZE=str(5 * 1024 * 1024))
    return subprocess.Popen([bin_path(), *args], env=env, cwd=data_dir.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _db(data_dir: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(data_dir / "bwv.db", timeout=30) as db:
        return db.execute(sql).fetchall()


def test_import_killed_half_way_and_resumed(tmp_path):
    root, data = tmp_path / "legacy", tmp_path / "data"
    files = _tree(root, {f"f{i}.mp4": 6 * 1024 * 1024 + i for i in range(6)})
    old = datetime(2020, 3, 1, tzinfo=UTC)
    rows = [{"path": name, "device_id": f"cam-{i}", "officer_id": "pc-7", "recorded_start": iso(old),
             "recorded_end": iso(old + timedelta(minutes=3))} for i, name in enumerate(files)]
    rows.append({"path": "nope.mp4", "device_id": "cam-x", "officer_id": "pc-7", "recorded_start": iso(old),
                 "recorded_end": iso(old)})
    manifest = _manifest(tmp_path / "m.csv", rows)
    assert subprocess.run([bin_path(), "migrate"], env={**os.environ, "BWV_DATA_DIR": str(data),
                                                        "BWV_SECRET_KEY": "import-test-key"},
                          capture_output=True).returncode == 0

    p = _bwv(data, "import", str(root), "--manifest", str(manifest))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and p.poll() is None:
        if _db(data, "SELECT count(*) FROM recordings")[0][0] >= 2:
            break
        time.sleep(0.05)
    assert p.poll() is None, p.communicate()  # still running: kill it mid-way
    p.send_signal(signal.SIGKILL)
    p.wait()
    done = _db(data, "SELECT count(*) FROM recordings")[0][0]
    assert 2 <= done < 6

    p = _bwv(data, "import", str(root), "--manifest", str(manifest))
    stdout, stderr = p.communicate(timeout=600)
    assert p.returncode == 1, (stdout, stderr)  # one row refused
    assert "Traceback" not in stderr
    assert "imported " in stdout and "refused 1" in stdout
    refusals = list(csv.DictReader(open(tmp_path / "m.csv.refusals.csv")))
    assert [(r["row"], r["path"]) for r in refusals] == [("7", "nope.mp4")]

    recs = _db(data, "SELECT device_id, sha256, size_bytes, storage_key FROM recordings")
    assert sorted(r[0] for r in recs) == [f"cam-{i}" for i in range(6)]  # each good row exactly once
    for device, sha, size, _ in recs:
        name = f"f{device.split('-')[1]}.mp4"
        assert sha == hashlib.sha256(files[name]).hexdigest() and size == len(files[name])
    # Nothing else stored: the objects are the recordings, plus at most the parts of an upload that was
    # killed after it completed and before it purged them, which the ingest janitor removes (as for a dock).
    stored = sorted(str(p.relative_to(data / "objects")) for p in (data / "objects").rglob("*") if p.is_file())
    unpurged = {u for (u,) in _db(data, "SELECT id FROM uploads WHERE status = 'completed' AND NOT staging_purged")}
    assert [k for k in stored if not k.startswith("uploads/")] == sorted(r[3] for r in recs)
    assert {k.split("/")[1] for k in stored if k.startswith("uploads/")} <= unpurged
    assert len(unpurged) <= 1
    assert {a for (a,) in _db(data, "SELECT DISTINCT actor FROM audit_events WHERE action LIKE 'import.%'")} == {
        "ops-anna"}
