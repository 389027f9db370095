"""Parts of the upload's part size go straight to their place in the recording: on disk one pre-allocated
file written at each part's offset (completing copies nothing), on S3 the multipart upload. A second send
of a part never touches what the first one stored on disk (rule 4): it is staged and copied in at
completion, so the recording is always exactly the parts the database recorded."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from service.storage.base import AssemblyPart, ObjectInfo, SlotTaken, StorageError
from service.storage.local import LocalStore
from tests.integration.test_ingest_assembly import _check_recording, _open, _parts, _put

MiB = 1024 * 1024


async def test_slots_receive_parts_in_any_order_and_a_resend_is_staged(stack):
    ps = stack.settings.part_size
    first = os.urandom(3 * ps + 1234)
    fixed = first[:ps] + os.urandom(ps) + first[2 * ps:]  # the dock re-sends part 2 with other bytes
    up = await _open(stack, fixed)
    bounds = [(0, ps), (ps, 2 * ps), (2 * ps, 3 * ps), (3 * ps, len(first))]
    for n, data in ((3, first), (2, first), (1, first), (4, first), (2, fixed)):
        a, b = bounds[n - 1]
        await _put(stack, up, n, data[a:b])
    recorded = await _parts(stack, up)
    # On disk part 2's slot holds the first send; the re-send is staged and replaces it at completion.
    assert [p.n for p in recorded if p.etag] == ([1, 3] if stack.mode == "embedded" else [1, 2, 3])
    r = await stack.client.post(f"/v1/uploads/{up}/complete", headers=stack.dock)
    assert r.status_code == 201, r.text
    await _check_recording(stack, r.json(), fixed)
    if stack.mode == "embedded":
        root = Path(stack.settings.object_store_url.removeprefix("file://"))
        assert [p.name for p in (root / "recordings").iterdir()] == [r.json()["id"]]  # no slot file, no claims
        assert (root / "recordings" / r.json()["id"]).stat().st_mode & 0o777 == 0o600


async def test_a_wrong_part_in_a_slot_is_refused_at_completion(stack):
    ps = stack.settings.part_size
    data = os.urandom(2 * ps)
    up = await _open(stack, data)
    await _put(stack, up, 1, os.urandom(ps))  # not the declared file's bytes
    await _put(stack, up, 2, data[ps:])
    stack.ctx.hashes.forget(up)  # as if another process had received part 1: the file is read back
    r = await stack.client.post(f"/v1/uploads/{up}/complete", headers=stack.dock)
    assert r.status_code == 422 and r.json()["type"].endswith("/hash-mismatch"), r.text
    # Finishing used the parts up (as on S3): the dock re-sends what the upload no longer lists.
    listed = (await stack.client.get(f"/v1/uploads/{up}", headers=stack.dock)).json()["parts"]
    for n in sorted({1, 2} - {p["n"] for p in listed}):
        await _put(stack, up, n, data[(n - 1) * ps:n * ps])
    r = await stack.client.post(f"/v1/uploads/{up}/complete", headers=stack.dock)
    assert r.status_code == 201, r.text
    await _check_recording(stack, r.json(), data)


@pytest.fixture
def disk(tmp_path) -> LocalStore:
    return LocalStore(str(tmp_path / "objects"))


async def test_local_slot_rules(disk: LocalStore, tmp_path: Path):
    ps = 5 * MiB
    data = os.urandom(2 * ps + 7)
    aid = await disk.begin_assembly("rec/a", size=len(data), part_size=ps)
    assert await disk.begin_assembly("rec/b") is None  # no layout: ingest stages and composes
    e2 = await disk.put_assembly_part("rec/a", aid, 2, [data[ps:ps + 100], data[ps + 100:2 * ps]])
    with pytest.raises(SlotTaken):  # written once only
        await disk.put_assembly_part("rec/a", aid, 2, data[ps:2 * ps])
    with pytest.raises(SlotTaken):  # not the slot's size (and the attempt does not claim the slot)
        await disk.put_assembly_part("rec/a", aid, 1, data[:ps - 1])
    e1 = await disk.put_assembly_part("rec/a", aid, 1, data[:ps])
    with pytest.raises(SlotTaken):  # past the declared size
        await disk.put_assembly_part("rec/a", aid, 3, data[2 * ps:] + b"x")
    await disk.put_bytes("up/3", data[2 * ps:])
    assert await disk.list("rec/") == []  # the slot file is not an object until it is finished
    with pytest.raises(StorageError):  # an etag of another slot
        await disk.finish_assembly("rec/a", aid, [AssemblyPart(1, etag=e2), AssemblyPart(2, etag=e1)])
    size = await disk.finish_assembly("rec/a", aid, [AssemblyPart(1, etag=e1), AssemblyPart(2, etag=e2),
                                                     AssemblyPart(3, source=ObjectInfo("up/3", 7))])
    assert size == len(data)
    got = b"".join([c async for c in disk.read("rec/a")])
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    assert sorted(p.name for p in (tmp_path / "objects" / "rec").iterdir()) == ["a"]


async def test_parts_out_of_place_are_compacted(disk: LocalStore, tmp_path: Path):
    ps = 5 * MiB
    data = os.urandom(3 * ps)
    aid = await disk.begin_assembly("rec/c", size=len(data), part_size=ps)
    e1 = await disk.put_assembly_part("rec/c", aid, 1, data[:ps])
    e3 = await disk.put_assembly_part("rec/c", aid, 3, data[2 * ps:])
    (tmp_path / "objects" / "rec" / ".bwvtmp-c.compact").write_bytes(b"a finish killed half-way")
    # Only parts 1 and 3 finished (the S3-shaped "big parts first" path): one compact object of the two.
    size = await disk.finish_assembly("rec/c", aid, [AssemblyPart(1, etag=e1), AssemblyPart(3, etag=e3)])
    assert size == 2 * ps
    assert b"".join([c async for c in disk.read("rec/c")]) == data[:ps] + data[2 * ps:]
    assert await disk.discard("rec/c") == []
    assert list((tmp_path / "objects" / "rec").iterdir()) == []
