"""Rule 6 for redaction: a real ``bwv worker`` (and, embedded, ``bwv serve``) is SIGKILLed while it
redacts a SAR item. Nothing is half made: the item is still ``running`` with no redacted copy, the
original and its hold are untouched, and the re-queue (the janitor's; embedded, the restart's) finishes
the job, once, with a copy whose hash its log records."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import subprocess
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from service.sar.redaction import MAX_ATTEMPTS
from service.sar.tasks import requeue_stuck_redactions as requeue_stuck
from tests.fixtures.media import cached_face_clip
from tests.fixtures.server import put, upload_meta
from tests.fixtures.stack import iso
from tests.helpers import bin_path, recording, sar_body, worker_env


def _start_worker(stack) -> subprocess.Popen:
    return subprocess.Popen([bin_path(), "worker"], env=worker_env(stack), stdout=subprocess.DEVNULL,  # noqa: ASYNC220
                            stderr=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


async def _item(stack, sar_id: str) -> dict:
    got = await stack.client.get(f"/v1/sars/{sar_id}", headers=stack.auth("sar-1", "sar_handler"))
    return got.json()["items"][0]


@pytest.mark.parametrize("stack", ["pg_s3"], indirect=True)  # the embedded stack has no worker process
async def test_worker_killed_mid_redaction_then_requeued(stack):
    sar_h = stack.auth("sar-1", "sar_handler")
    now = datetime.now(UTC)
    data = cached_face_clip(seconds=12, width=640, height=360, move=True).read_bytes()
    rec = await recording(stack, "face", data=data, start=now - timedelta(hours=2))
    await stack.drain_jobs()
    sar = (await stack.client.post("/v1/sars", json=sar_body(now - timedelta(days=1), now), headers=sar_h)).json()
    iid = (await stack.client.post(f"/v1/sars/{sar['id']}/items", json={"recording_id": rec["id"]},
                                   headers=sar_h)).json()["id"]
    r = await stack.client.post(f"/v1/sars/{sar['id']}/items/{iid}/redaction", json={"auto_faces": True},
                                headers=sar_h)
    assert r.status_code == 202, r.text

    proc = _start_worker(stack)
    try:
        for _ in range(600):  # until the progress a running job writes shows it is well under way
            item = await _item(stack, sar["id"])
            if item["redaction"]["status"] == "running" and item["redaction"]["progress"] >= 0.1:
                break
            await asyncio.sleep(0.05)
        assert item["redaction"]["status"] == "running", item
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=20)
    finally:
        _stop(proc)

    item = await _item(stack, sar["id"])
    assert item["redaction"]["status"] == "running" and item["redaction"]["sha256"] is None
    assert not await stack.ctx.store.list(f"sar/{sar['id']}/")  # no half-written copy
    media = await stack.client.get(f"/v1/recordings/{rec['id']}/media", headers=sar_h)
    assert hashlib.sha256(media.content).hexdigest() == rec["sha256"]
    got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sar_h)).json()
    assert got["retention"]["delete_after"] is None

    # arq keeps the dead worker's job "in progress" until its timeout (an hour); the janitor re-queues
    # the redaction itself, and a new worker process finishes it.
    assert await requeue_stuck(stack.ctx, older_than=timedelta(0)) == 1
    proc = _start_worker(stack)
    try:
        for _ in range(1200):
            red = (await _item(stack, sar["id"]))["redaction"]
            if red["status"] not in ("queued", "running"):
                break
            await asyncio.sleep(0.1)
    finally:
        _stop(proc)
    assert red["status"] == "ready" and red["log"]["output"]["sha256"] == red["sha256"], red
    stored = await stack.ctx.store.list(f"sar/{sar['id']}/")
    assert [o.key for o in stored] == [f"sar/{sar['id']}/{iid}/{red['run']}.mp4"]
    body = b"".join([c async for c in stack.ctx.store.read(stored[0].key)])
    assert hashlib.sha256(body).hexdigest() == red["sha256"]


async def test_janitor_gives_up_after_repeated_interrupted_runs(stack):
    """A redaction that keeps dying (a poison file killing ffmpeg's host) ends ``failed``, not forever queued."""
    from service.db import transaction
    from service.sar.models import SarItem

    sar_h = stack.auth("sar-1", "sar_handler")
    now = datetime.now(UTC)
    rec = await recording(stack, "vid", data=cached_face_clip(seconds=2).read_bytes(), start=now - timedelta(hours=2))
    await stack.drain_jobs()
    sar = (await stack.client.post("/v1/sars", json=sar_body(now - timedelta(days=1), now), headers=sar_h)).json()
    iid = (await stack.client.post(f"/v1/sars/{sar['id']}/items", json={"recording_id": rec["id"]},
                                   headers=sar_h)).json()["id"]
    async with transaction(stack.ctx.sessions) as s:  # as a worker leaves it when killed on its last attempt
        item = await s.get(SarItem, iid)
        item.redaction_status, item.redaction_run, item.redaction_attempts = "running", "rdr_dead", MAX_ATTEMPTS
        item.redaction_updated_at = now - timedelta(hours=1)
    assert await requeue_stuck(stack.ctx) == 1
    red = (await _item(stack, sar["id"]))["redaction"]
    assert red["status"] == "failed" and "gave up" in red["error"]
    again = await stack.client.post(f"/v1/sars/{sar['id']}/items/{iid}/redaction", json={"auto_faces": False},
                                    headers=sar_h)
    assert again.status_code == 202  # a handler can ask again after a failure


@pytest.mark.parametrize("server", ["embedded"], indirect=True)  # one process: jobs run inside bwv serve
async def test_embedded_server_killed_mid_redaction_resumes_at_restart(server):  # noqa: F811
    """SIGKILL ``bwv serve`` (SQLite + disk + in-process jobs) while it redacts: the restarted server
    picks the redaction up at once and finishes it; nothing half-made is ever stored."""
    data = cached_face_clip(seconds=12, width=640, height=360, move=True).read_bytes()
    dock = {"Authorization": f"Bearer {server.bwv('dock', 'register', 'dock-sar').stdout.strip()}"}
    sar_h = server.token("sar-1", "sar_handler")
    server.start()
    now = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
        meta = {**upload_meta(data, "cam-sar"), "recorded_start": iso(now - timedelta(hours=2)),
                "recorded_end": iso(now - timedelta(hours=1))}
        up = (await c.post("/v1/uploads", json=meta, headers=dock)).json()["upload_id"]
        await put(c, dock, up, 1, data)
        rec = (await c.post(f"/v1/uploads/{up}/complete", headers=dock)).json()
        await _until(c, f"/v1/recordings/{rec['id']}", sar_h, lambda r: (r["media"] or {}).get("readable"))
        sar = (await c.post("/v1/sars", json=sar_body(now - timedelta(days=1), now), headers=sar_h)).json()
        iid = (await c.post(f"/v1/sars/{sar['id']}/items", json={"recording_id": rec["id"]}, headers=sar_h)).json()["id"]
        assert (await c.post(f"/v1/sars/{sar['id']}/items/{iid}/redaction", json={"auto_faces": True},
                             headers=sar_h)).status_code == 202
        await _until(c, f"/v1/sars/{sar['id']}", sar_h,
                     lambda s: s["items"][0]["redaction"]["progress"] >= 0.1, step=0.05)
    server.kill()
    assert not [k for k in server.objects() if k.startswith("sar/")] and not server.in_progress()

    server.start()
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
        got = await _until(c, f"/v1/sars/{sar['id']}", sar_h,
                           lambda s: s["items"][0]["redaction"]["status"] not in ("queued", "running"))
        red = got["items"][0]["redaction"]
        assert red["status"] == "ready", red
        copy = await c.get(f"/v1/sars/{sar['id']}/items/{iid}/redacted", headers=sar_h)
        assert hashlib.sha256(copy.content).hexdigest() == red["sha256"]
        original = await c.get(f"/v1/recordings/{rec['id']}/media", headers=sar_h)
        assert hashlib.sha256(original.content).hexdigest() == rec["sha256"]
        assert (await c.get("/v1/audit/verify", headers=server.token("aud", "auditor"))).json()["ok"] is True
    assert [k for k in server.objects() if k.startswith("sar/")] == [f"sar/{sar['id']}/{iid}/{red['run']}.mp4"]


async def _until(client, path: str, headers: dict, cond, within: float = 120, step: float = 0.2) -> dict:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        got = (await client.get(path, headers=headers)).json()
        if cond(got):
            return got
        assert asyncio.get_running_loop().time() < deadline, got
        await asyncio.sleep(step)


async def test_face_scans_a_dead_worker_left_are_run_again_or_given_up(stack):
    """Face scans share the redactions' job-row state machine (service.jobrows): one left running by a dead
    worker is queued again by the janitor and finishes once; one on its last attempt ends ``failed``."""
    from service.db import transaction
    from service.sar.faces import FACE_SCANS
    from service.sar.models import SarFaceScan
    from service.sar.tasks import requeue_stuck_faces

    sar_h = stack.auth("sar-1", "sar_handler")
    now = datetime.now(UTC)
    rec = await recording(stack, "vid", data=cached_face_clip(seconds=2).read_bytes(), start=now - timedelta(hours=2))
    await stack.drain_jobs()
    sar = (await stack.client.post("/v1/sars", json=sar_body(now - timedelta(days=1), now), headers=sar_h)).json()
    path = f"/v1/sars/{sar['id']}/items"
    iid = (await stack.client.post(path, json={"recording_id": rec["id"]}, headers=sar_h)).json()["id"]
    assert (await stack.client.post(f"{path}/{iid}/faces", headers=sar_h)).status_code == 202
    await stack.drain_jobs()
    for attempts, expected in ((1, "ready"), (FACE_SCANS.max_attempts, "failed")):
        async with transaction(stack.ctx.sessions) as s:  # as a worker leaves it when killed mid-scan
            scan = await s.get(SarFaceScan, iid)
            scan.status, scan.run, scan.attempts = "running", f"fsc_dead{attempts}", attempts
            scan.updated_at = now - timedelta(hours=1)
        assert await requeue_stuck_faces(stack.ctx) == 1
        assert await requeue_stuck_faces(stack.ctx) == 0  # nothing stuck twice
        await stack.drain_jobs()
        got = (await stack.client.get(f"{path}/{iid}/faces", headers=sar_h)).json()
        assert got["status"] == expected, got
    assert "gave up" in got["error"]
