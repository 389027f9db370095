"""Ingest rules as properties over random dock behaviour (DESIGN.md rules 3 and 4; API.md Ingest)."""

from __future__ import annotations

import hashlib
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.stack import split

# One stack serves every example (each example uses fresh bytes and a fresh camera id).
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def dock_behaviour(draw):
    parts = draw(st.integers(min_value=1, max_value=6))
    order = draw(st.permutations(list(range(1, parts + 1))))
    resend = draw(st.lists(st.integers(min_value=1, max_value=parts), max_size=4))
    size = draw(st.integers(min_value=parts, max_value=300_000))
    seed = draw(st.binary(min_size=16, max_size=16))
    return parts, list(order), resend, size, seed


def payload(seed: bytes, size: int) -> bytes:
    """Pseudo-random bytes, unique per call: hypothesis replays seeds, a dock never re-docks by chance."""
    out, block = bytearray(), seed + uuid.uuid4().bytes
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


@SETTINGS
@given(behaviour=dock_behaviour())
async def test_any_order_and_repetition_of_parts_yields_the_same_recording(stack, behaviour):
    parts, order, resend, size, seed = behaviour
    data = payload(seed, size)
    device = "cam-" + uuid.uuid4().hex[:12]
    r = await stack.upload(data, parts=parts, order=order, resend=resend, device_id=device)
    assert r.status_code == 201, r.text
    rec = r.json()
    assert rec["sha256"] == hashlib.sha256(data).hexdigest() and rec["size_bytes"] == size
    media = await stack.client.get(f"/v1/recordings/{rec['id']}/media", headers=stack.auth("s", "supervisor"))
    assert media.content == data
    # Nothing staged is left once recordings exist: every earlier example completed too.
    assert await stack.ctx.store.list("uploads/") == []


@SETTINGS
@given(behaviour=dock_behaviour(), redocks=st.integers(min_value=1, max_value=3))
async def test_a_redocked_file_never_makes_a_duplicate(stack, behaviour, redocks):
    parts, order, resend, size, seed = behaviour
    data = payload(seed, size)
    device = "cam-" + uuid.uuid4().hex[:12]
    first = await stack.upload(data, parts=parts, order=order, device_id=device)
    assert first.status_code == 201
    for _ in range(redocks):
        again = await stack.upload(data, parts=parts, order=order, device_id=device)
        assert again.status_code == 200 and again.json()["recording_id"] == first.json()["id"]
    # Two uploads of the same file opened before either completed still end in one recording.
    meta = stack.upload_meta(data, device_id=device + "-race")
    bounds = split(size, parts)
    ups = []
    for _ in range(2):
        created = await stack.client.post("/v1/uploads", json=meta, headers=stack.dock)
        ups.append(created.json()["upload_id"])
    for up in ups:
        for n in order:
            a, b = bounds[n - 1]
            await stack.client.put(f"/v1/uploads/{up}/parts/{n}", content=data[a:b], headers=stack.dock)
    done = [await stack.client.post(f"/v1/uploads/{up}/complete", headers=stack.dock) for up in ups]
    assert {d.json()["id"] for d in done} == {done[0].json()["id"]}
    items = (await stack.client.get(f"/v1/recordings?device_id={device}-race",
                                    headers=stack.auth("s", "supervisor"))).json()["items"]
    assert len(items) == 1

