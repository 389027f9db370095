"""Cold tier move throughput (issue 17), against doing the same storage work by hand.

N recordings of S MiB each are stored hot and catalogued (SQLite), then ``move_to_cold`` moves them all:
  local disk: bodycam (copy to the cold store, read back and hash, delete the original, catalogue and audit)
              vs. the same file work by hand (copy, fsync, read back and hash, delete);
  S3 (moto):  bodycam (CopyObject to GLACIER with an S3 SHA-256 checksum, compared; delete the original;
              catalogue and audit) vs. raw boto3 CopyObject (same class and checksum) + DeleteObject.
The ratio is bodycam's throughput over the by-hand one: what the catalogue, the audit and the crash
safety cost. No target in DESIGN.md; reported to watch.

    PYTHONPATH=. .venv/bin/python bench/coldtier.py [--count 40] [--size-mb 8]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]

from common import AWS_ENV, MB, machine_info, md_table, now_iso, write_report  # noqa: E402

os.environ.update(AWS_ENV)


async def _seed(ctx, count: int, size: int) -> list[tuple[str, int]]:
    from service.db import transaction
    from service.ids import new_id
    from service.recordings.models import Recording

    old = datetime.now(UTC) - timedelta(days=800)
    out = []
    async with transaction(ctx.sessions) as s:
        for i in range(count):
            data = os.urandom(size)
            rid = new_id("rec")
            key = f"recordings/{rid}"

            async def chunks(data=data):
                for j in range(0, len(data), MB):
                    yield data[j:j + MB]

            await ctx.store.put(key, chunks())
            info = await ctx.store.head(key)
            s.add(Recording(id=rid, device_id=f"cam-{i}", officer_id="o", dock_id="d", upload_id=f"up{i}",
                            filename="x.mp4", content_type="video/mp4", size_bytes=size,
                            sha256=hashlib.sha256(data).hexdigest(), storage_key=key, storage_version=info.version,
                            received_at=old, recorded_start=old, recorded_end=old, device_clock_at_dock=old,
                            drift_s=0.0, time_trust="device", trusted_start=old, trusted_end=old, basis_start=old,
                            basis_end=old, media=None, media_status="done", status="active",
                            retention_category="evidence", delete_after=None, restricted=False))
            out.append((key, size))
    return out


async def _bodycam(settings) -> tuple[float, dict]:
    from service.coldtier.tasks import move_to_cold
    from service.context import build_context

    ctx = build_context(settings)
    try:
        if settings.storage_url:
            await ctx.store.ensure_bucket()
        await _seed(ctx, ARGS.count, ARGS.size_mb * MB)
        t = time.perf_counter()
        report = await move_to_cold(ctx, batch=100)
        return time.perf_counter() - t, report
    finally:
        await ctx.close()


def _by_hand_local(count: int, size: int, work: Path) -> float:
    hot, cold = work / "hot", work / "cold"
    hot.mkdir()
    cold.mkdir()
    for i in range(count):
        (hot / str(i)).write_bytes(os.urandom(size))
    t = time.perf_counter()
    for i in range(count):
        shutil.copyfile(hot / str(i), cold / str(i))
        with open(cold / str(i), "rb") as f:
            os.fsync(f.fileno())  # durable before the original goes, as bodycam's store makes it
            hashlib.file_digest(f, "sha256")
        os.unlink(hot / str(i))
    return time.perf_counter() - t


def _by_hand_s3(endpoint: str, count: int, size: int) -> float:
    from tests.fixtures.s3 import make_bucket, s3_client

    client = s3_client(endpoint)
    bucket = make_bucket(endpoint)
    for i in range(count):
        client.put_object(Bucket=bucket, Key=f"hot/{i}", Body=os.urandom(size))
    t = time.perf_counter()
    for i in range(count):
        client.copy_object(Bucket=bucket, Key=f"cold/{i}", CopySource={"Bucket": bucket, "Key": f"hot/{i}"},
                           StorageClass="GLACIER", ChecksumAlgorithm="SHA256")
        client.delete_object(Bucket=bucket, Key=f"hot/{i}")
    return time.perf_counter() - t


def main() -> None:
    from service.config import Settings
    from service.migrations import upgrade
    from tests.fixtures.s3 import make_bucket, start_moto_server, stop_moto_server

    total = ARGS.count * ARGS.size_mb * MB
    rows, data = [], {"when": now_iso(), "machine": machine_info(), "count": ARGS.count, "size_mb": ARGS.size_mb}
    with tempfile.TemporaryDirectory(prefix="bwv-bench-cold-") as tmp:
        tmp = Path(tmp)
        (tmp / "local").mkdir()
        upgrade(f"sqlite+aiosqlite:///{tmp / 'local' / 'bwv.db'}")
        local = Settings(data_dir=tmp / "local", secret_key="bench", policy_dir=ROOT / "policies")
        secs, report = asyncio.run(_bodycam(local))
        (tmp / "hand").mkdir()
        hand = _by_hand_local(ARGS.count, ARGS.size_mb * MB, tmp / "hand")
        rows.append(["local disk", f"{total / MB / secs:.1f}", f"{total / MB / hand:.1f}", f"{hand / secs:.2f}",
                     report["moved"]])
        data["local"] = {"bodycam_s": secs, "by_hand_s": hand, "ratio": hand / secs, "report": report}

        endpoint, proc = start_moto_server()
        try:
            (tmp / "s3").mkdir()
            upgrade(f"sqlite+aiosqlite:///{tmp / 's3' / 'bwv.db'}")
            s3 = Settings(data_dir=tmp / "s3", secret_key="bench", policy_dir=ROOT / "policies",
                          storage_url=f"s3://{make_bucket(endpoint, object_lock=True)}", s3_endpoint_url=endpoint)
            secs, report = asyncio.run(_bodycam(s3))
            hand = _by_hand_s3(endpoint, ARGS.count, ARGS.size_mb * MB)
        finally:
            stop_moto_server(proc)
        rows.append(["S3 (moto), GLACIER", f"{total / MB / secs:.1f}", f"{total / MB / hand:.1f}",
                     f"{hand / secs:.2f}", report["moved"]])
        data["s3"] = {"bodycam_s": secs, "by_hand_s": hand, "ratio": hand / secs, "report": report}
    headers = ["store", "bodycam MB/s", "by hand MB/s", "ratio", "moved"]
    md = (f"# Cold tier move throughput\n\n{now_iso()}: {ARGS.count} recordings × {ARGS.size_mb} MiB, "
          f"SQLite catalogue.\n\n{md_table(headers, rows)}\n\nBy hand: the same copy, verification and delete "
          "without catalogue, audit or crash safety (local: copy, fsync, read back and hash, delete; S3: CopyObject to "
          "GLACIER with a SHA-256 checksum, DeleteObject).\n")
    print(md)
    write_report("coldtier", md, data)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, default=40)
    p.add_argument("--size-mb", type=int, default=8)
    ARGS = p.parse_args()
    main()
