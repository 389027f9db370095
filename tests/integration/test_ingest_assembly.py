"""Large parts (≥ 5 MiB) go straight into an S3 multipart upload; smaller ones are staged. Every mix
of the two completes to the right bytes, and a wrong hash is refused, on both stacks."""

from __future__ import annotations

import hashlib
import os

from service.ingest.models import UploadPart
from tests.fixtures.stack import split

MiB = 1024 * 1024


async def _open(stack, data: bytes) -> str:
    r = await stack.client.post("/v1/uploads", json=stack.upload_meta(data), headers=stack.dock)
    assert r.status_code == 201, r.text
    return r.json()["upload_id"]


async def _put(stack, upload_id: str, n: int, body: bytes) -> None:
    r = await stack.client.put(f"/v1/uploads/{upload_id}/parts/{n}", content=body, headers=stack.dock)
    assert r.status_code == 200, r.text


async def _parts(stack, upload_id: str) -> list[UploadPart]:
    async with stack.ctx.sessions() as s:
        from service.ingest.repository import parts

        return await parts(s, upload_id)


async def _check_recording(stack, rec: dict, data: bytes) -> None:
    media = await stack.client.get(f"/v1/recordings/{rec['id']}/media", headers=stack.auth("s", "supervisor"))
    assert media.content == data and rec["sha256"] == hashlib.sha256(data).hexdigest()
    # Nothing left behind: no staged parts, no open assembly.
    assert await stack.ctx.store.list("uploads/") == []
    keys = [o.key for o in await stack.ctx.store.list("recordings/")]
    assert keys == [f"recordings/{rec['id']}"]


async def test_big_parts_in_any_order_with_a_resend(stack):
    data = os.urandom(3 * 6 * MiB + 1234)
    up = await _open(stack, data)
    bounds = [(0, 6 * MiB), (6 * MiB, 12 * MiB), (12 * MiB, 18 * MiB), (18 * MiB, len(data))]
    for n in (3, 1, 4, 2, 3):
        a, b = bounds[n - 1]
        await _put(stack, up, n, data[a:b])
    recorded = await _parts(stack, up)
    direct = [p.n for p in recorded if p.etag]
    assert direct == ([1, 2, 3] if stack.mode == "pg_s3" else [])  # the small last part is staged
    r = await stack.client.post(f"/v1/uploads/{up}/complete", headers=stack.dock)
    assert r.status_code == 201, r.text
    await _check_recording(stack, r.json(), data)


async def test_small_part_between_big_ones(stack):
    data = os.urandom(6 * MiB + 2 * MiB + 6 * MiB)
    up = await _open(stack, data)
    for n, (a, b) in enumerate([(0, 6 * MiB), (6 * MiB, 8 * MiB), (8 * MiB, len(data))], start=1):
        await _put(stack, up, n, data[a:b])
    r = await stack.client.post(f"/v1/uploads/{up}/complete", headers=stack.dock)
    assert r.status_code == 201, r.text
    await _check_recording(stack, r.json(), data)


async def test_without_the_running_hash_the_stored_bytes_are_read_back(stack):
    data = os.urandom(2 * 6 * MiB)
    up = await _open(stack, data)
    for n, (a, b) in enumerate(split(len(data), 2), start=1):
        await _put(stack, up, n, data[a:b])
    stack.ctx.hashes.forget(up)  # as if another API process had received the parts
    r = await stack.client.post(f"/v1/uploads/{up}/complete", headers=stack.dock)
    assert r.status_code == 201, r.text
    await _check_recording(stack, r.json(), data)
    audit = (await stack.client.get(f"/v1/audit?object_id={r.json()['id']}&action=recording.created",
                                    headers=stack.auth("a", "auditor"))).json()["items"]
    assert audit[0]["details"]["hash_method"] == "re-read"


async def test_wrong_hash_with_big_parts_keeps_them_for_a_fix(stack):
    data = os.urandom(2 * 6 * MiB)
    bad = bytearray(data)
    bad[7 * MiB] ^= 0xFF  # one flipped bit in part 2 on the way in
    up = await _open(stack, data)
    bounds = split(len(data), 2)
    await _put(stack, up, 1, data[bounds[0][0]:bounds[0][1]])
    await _put(stack, up, 2, bytes(bad[bounds[1][0]:bounds[1][1]]))
    r = await stack.client.post(f"/v1/uploads/{up}/complete", headers=stack.dock)
    assert r.status_code == 422 and r.json()["type"].endswith("/hash-mismatch")
    st = (await stack.client.get(f"/v1/uploads/{up}", headers=stack.dock)).json()
    assert [p["n"] for p in st["parts"]] == [1, 2] and st["status"] == "open"
    await _put(stack, up, 2, data[bounds[1][0]:bounds[1][1]])  # the dock re-sends the bad part
    ok = await stack.client.post(f"/v1/uploads/{up}/complete", headers=stack.dock)
    assert ok.status_code == 201, ok.text
    await _check_recording(stack, ok.json(), data)


async def test_wrong_hash_found_only_after_assembly_asks_for_the_parts_again(stack):
    data = os.urandom(2 * 6 * MiB)
    bad = bytearray(data)
    bad[100] ^= 0xFF
    up = await _open(stack, data)
    bounds = split(len(data), 2)
    await _put(stack, up, 1, bytes(bad[: bounds[0][1]]))
    await _put(stack, up, 2, data[bounds[1][0]:])
    stack.ctx.hashes.forget(up)
    r = await stack.client.post(f"/v1/uploads/{up}/complete", headers=stack.dock)
    assert r.status_code == 422
    st = (await stack.client.get(f"/v1/uploads/{up}", headers=stack.dock)).json()
    # On S3 the big parts were used up building the object that failed: the dock re-sends them.
    assert [p["n"] for p in st["parts"]] == ([] if stack.mode == "pg_s3" else [1, 2])
    for n, (a, b) in enumerate(bounds, start=1):
        await _put(stack, up, n, data[a:b])
    ok = await stack.client.post(f"/v1/uploads/{up}/complete", headers=stack.dock)
    assert ok.status_code == 201, ok.text
    await _check_recording(stack, ok.json(), data)
