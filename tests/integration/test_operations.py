"""Operations: health, readiness, metrics, the abandoned-upload janitor, and a real `bwv worker`."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from service.ingest.models import Upload
from service.ingest.tasks import ingest_janitor
from service.timeutil import utcnow
from tests.fixtures.media import cached_clip
from tests.helpers import bin_path, worker_env


async def test_health_readiness_and_metrics(stack):
    assert (await stack.client.get("/healthz")).json()["status"] == "ok"
    ready = await stack.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "storage": "ok"}
    await stack.upload(b"metrics" * 1000)
    text = (await stack.client.get("/metrics")).text
    for name in ("bwv_uploads_completed_total", "bwv_upload_bytes_total", "bwv_hash_mismatches_total",
                 "bwv_clock_faults_total", "bwv_http_request_duration_seconds_bucket"):
        assert name in text
    assert 'route="/v1/uploads/{upload_id}/parts/{n}"' in text  # latency per route template, not per id
    docs = await stack.client.get("/openapi.json")
    assert "/v1/uploads/{upload_id}/complete" in docs.json()["paths"]


async def test_readiness_fails_when_storage_is_gone(stack, tmp_path):
    if stack.mode != "embedded":
        return await _s3_unready(stack)
    root = Path(stack.settings.object_store_url.removeprefix("file://"))
    moved = root.with_name("objects.moved")
    if root.exists():
        root.rename(moved)
    root.write_text("a file where the object store should be")  # even root cannot write below a file
    try:
        r = await stack.client.get("/readyz")
        assert r.status_code == 503 and r.json()["checks"]["storage"].startswith("error")
    finally:
        root.unlink()
        if moved.exists():
            moved.rename(root)
    assert (await stack.client.get("/readyz")).status_code == 200


async def _s3_unready(stack):
    from service.storage.s3 import S3Store

    real = stack.ctx.store
    stack.ctx.store = S3Store("bucket-that-was-deleted", endpoint_url=stack.settings.s3_endpoint_url)
    try:
        r = await stack.client.get("/readyz")
        assert r.status_code == 503 and "error" in r.json()["checks"]["storage"]
    finally:
        await stack.ctx.store.close()
        stack.ctx.store = real
    assert (await stack.client.get("/readyz")).status_code == 200


async def test_janitor_abandons_stale_uploads_and_removes_their_parts(stack):
    data = b"half" * 5000
    up = (await stack.client.post("/v1/uploads", json=stack.upload_meta(data), headers=stack.dock)).json()
    await stack.client.put(f"/v1/uploads/{up['upload_id']}/parts/1", content=data[:5000], headers=stack.dock)
    assert await stack.ctx.store.list(f"uploads/{up['upload_id']}/")
    result = await ingest_janitor(stack.ctx)
    assert result["abandoned"] == 0  # fresh uploads are left alone
    async with stack.ctx.sessions() as s, s.begin():
        await s.execute(update(Upload).where(Upload.id == up["upload_id"])
                        .values(updated_at=utcnow() - timedelta(days=8)))
    assert (await ingest_janitor(stack.ctx))["abandoned"] == 1
    st = (await stack.client.get(f"/v1/uploads/{up['upload_id']}", headers=stack.dock)).json()
    assert st["status"] == "abandoned" and st["parts"] == []
    assert await stack.ctx.store.list(f"uploads/{up['upload_id']}/") == []
    late = await stack.client.put(f"/v1/uploads/{up['upload_id']}/parts/2", content=b"x", headers=stack.dock)
    assert late.status_code == 410
    ev = (await stack.client.get(f"/v1/audit?object_id={up['upload_id']}&action=upload.abandoned",
                                 headers=stack.auth("a", "auditor"))).json()["items"]
    assert ev and ev[0]["actor"] == "system:ingest-janitor" and ev[0]["details"]["bytes"] == 5000


@pytest.mark.parametrize("stack", ["pg_s3"], indirect=True)  # embedded jobs run in-process: no worker process
async def test_a_real_arq_worker_process_runs_the_probe(stack):
    rec = (await stack.upload(cached_clip(seconds=2).read_bytes())).json()
    proc = subprocess.Popen([bin_path(), "worker"], env=worker_env(stack),  # noqa: ASYNC220
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        sup = stack.auth("s", "supervisor")
        for _ in range(150):
            got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sup)).json()
            if got["media_status"] == "done":
                break
            await asyncio.sleep(0.2)
        assert got["media_status"] == "done" and got["media"]["readable"] is True, proc.stdout.read1().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
