"""Dock ingest end to end through the HTTP API, on both stacks (embedded and PostgreSQL + S3 + arq)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from tests.fixtures.media import cached_clip
from tests.fixtures.stack import iso, split


async def test_30s_clip_in_three_parts_resent_out_of_order(stack):
    data = cached_clip(seconds=30, width=640, height=360).read_bytes()
    r = await stack.upload(data, parts=3, order=[3, 1, 2], resend=[1], device_id="cam-30s")
    assert r.status_code == 201, r.text
    rec = r.json()
    assert rec["sha256"] == hashlib.sha256(data).hexdigest()
    assert rec["size_bytes"] == len(data) and rec["status"] == "active" and rec["time_trust"] == "device"

    sup = stack.auth("sup-1", "supervisor")
    media = await stack.client.get(f"/v1/recordings/{rec['id']}/media", headers=sup)
    assert media.status_code == 200 and hashlib.sha256(media.content).hexdigest() == rec["sha256"]
    part = await stack.client.get(f"/v1/recordings/{rec['id']}/media",
                                  headers={**sup, "Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    assert part.content == data[1000:2000]
    tail = await stack.client.get(f"/v1/recordings/{rec['id']}/media", headers={**sup, "Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]
    bad = await stack.client.get(f"/v1/recordings/{rec['id']}/media",
                                 headers={**sup, "Range": f"bytes={len(data)}-"})
    assert bad.status_code == 416 and bad.headers["content-type"] == "application/problem+json"

    await stack.drain_jobs()
    got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sup)).json()
    assert got["media"]["readable"] is True
    assert abs(got["media"]["duration_s"] - 30) < 0.5
    assert (got["media"]["width"], got["media"]["height"]) == (640, 360)
    assert got["media"]["video_codec"] == "h264" and got["media"]["audio_codec"] == "aac"

    audit = stack.auth("aud-1", "auditor")
    events = (await stack.client.get(f"/v1/audit?object_id={rec['id']}", headers=audit)).json()["items"]
    actions = [e["action"] for e in events]
    assert "recording.created" in actions and "recording.media_accessed" in actions
    assert "recording.viewed" in actions and "recording.probed" in actions
    created = next(e for e in events if e["action"] == "recording.created")
    assert created["actor"] == "dock-1" and created["details"]["sha256"] == rec["sha256"]
    assert any(e["actor"] == "sup-1" for e in events if e["action"] == "recording.media_accessed")
    v = (await stack.client.get("/v1/audit/verify", headers=audit)).json()
    assert v["ok"] is True and v["events"] >= len(events)


async def test_status_shows_parts_for_resume(stack):
    data = bytes(range(256)) * 4000
    meta = stack.upload_meta(data)
    up = (await stack.client.post("/v1/uploads", json=meta, headers=stack.dock)).json()
    bounds = split(len(data), 4)
    for n in (2, 4):
        a, b = bounds[n - 1]
        assert (await stack.client.put(f"/v1/uploads/{up['upload_id']}/parts/{n}", content=data[a:b],
                                       headers=stack.dock)).status_code == 200
    st = (await stack.client.get(f"/v1/uploads/{up['upload_id']}", headers=stack.dock)).json()
    assert st["status"] == "open"
    assert [p["n"] for p in st["parts"]] == [2, 4]
    assert st["received_bytes"] == (bounds[1][1] - bounds[1][0]) + (bounds[3][1] - bounds[3][0])
    # The dock asks again for the same file (it lost our answer): it gets the same upload to resume.
    again = await stack.client.post("/v1/uploads", json=meta, headers=stack.dock)
    assert again.status_code == 200 and again.json()["upload_id"] == up["upload_id"]
    assert [p["n"] for p in again.json()["parts"]] == [2, 4]
    early = await stack.client.post(f"/v1/uploads/{up['upload_id']}/complete", headers=stack.dock)
    assert early.status_code == 409 and early.json()["missing_parts"] == [1, 3]
    for n in (1, 3):
        a, b = bounds[n - 1]
        await stack.client.put(f"/v1/uploads/{up['upload_id']}/parts/{n}", content=data[a:b], headers=stack.dock)
    done = await stack.client.post(f"/v1/uploads/{up['upload_id']}/complete", headers=stack.dock)
    assert done.status_code == 201
    # Completing again (a lost answer) returns the same recording, not a second one.
    twice = await stack.client.post(f"/v1/uploads/{up['upload_id']}/complete", headers=stack.dock)
    assert twice.status_code == 200 and twice.json()["id"] == done.json()["id"]
    late = await stack.client.put(f"/v1/uploads/{up['upload_id']}/parts/1", content=b"x", headers=stack.dock)
    assert late.status_code == 409


async def test_redock_is_a_duplicate_not_a_second_recording(stack):
    data = b"same file " * 10_000
    first = await stack.upload(data, device_id="cam-dup")
    assert first.status_code == 201
    again = await stack.client.post("/v1/uploads", json=stack.upload_meta(data, device_id="cam-dup"),
                                    headers=stack.dock)
    assert again.status_code == 200
    assert again.json() == {"recording_id": first.json()["id"], "duplicate": True}
    sup = stack.auth("sup", "supervisor")
    items = (await stack.client.get("/v1/recordings?device_id=cam-dup", headers=sup)).json()["items"]
    assert len(items) == 1


async def test_wrong_sha256_is_refused_and_nothing_is_kept(stack):
    data = b"\x00\x01" * 50_000
    meta = stack.upload_meta(data, sha256="ab" * 32, device_id="cam-bad")
    up = (await stack.client.post("/v1/uploads", json=meta, headers=stack.dock)).json()
    await stack.client.put(f"/v1/uploads/{up['upload_id']}/parts/1", content=data, headers=stack.dock)
    r = await stack.client.post(f"/v1/uploads/{up['upload_id']}/complete", headers=stack.dock)
    assert r.status_code == 422
    body = r.json()
    assert body["type"].endswith("/hash-mismatch") and r.headers["content-type"] == "application/problem+json"
    assert body["actual_sha256"] == hashlib.sha256(data).hexdigest()
    sup = stack.auth("sup", "supervisor")
    assert (await stack.client.get("/v1/recordings?device_id=cam-bad", headers=sup)).json()["items"] == []
    st = (await stack.client.get(f"/v1/uploads/{up['upload_id']}", headers=stack.dock)).json()
    assert st["status"] == "open" and st["received_bytes"] == len(data)
    # Only the staged part remains in storage: no assembled object was left behind.
    keys = [o.key for o in await stack.ctx.store.list("")]
    assert keys and all(k.startswith(f"uploads/{up['upload_id']}/") for k in keys)
    alerts = (await stack.client.get("/v1/alerts?open=true", headers=sup)).json()["items"]
    assert any(a["kind"] == "hash_mismatch" and a["subject_id"] == up["upload_id"] for a in alerts)


async def test_wrong_size_is_a_hash_mismatch(stack):
    data = b"z" * 10_000
    meta = stack.upload_meta(data, size_bytes=20_000)
    up = (await stack.client.post("/v1/uploads", json=meta, headers=stack.dock)).json()
    await stack.client.put(f"/v1/uploads/{up['upload_id']}/parts/1", content=data, headers=stack.dock)
    r = await stack.client.post(f"/v1/uploads/{up['upload_id']}/complete", headers=stack.dock)
    assert r.status_code == 422 and r.json()["type"].endswith("/hash-mismatch")


async def test_clock_reading_1970_raises_alert_and_footage_is_findable(stack):
    data = b"flat battery" * 5000
    now = datetime.now(UTC)
    # The camera's clock reset to 1970 at power-on and ran since: the drift shifts times back into place.
    dock_clock = datetime(1970, 1, 1, 9, 0, tzinfo=UTC)
    r = await stack.upload(data, device_id="cam-1970", device_clock_at_dock=iso(dock_clock),
                           recorded_start=iso(dock_clock - timedelta(hours=3)),
                           recorded_end=iso(dock_clock - timedelta(hours=2, minutes=50)))
    assert r.status_code == 201, r.text
    rec = r.json()
    assert rec["time_trust"] == "corrected"
    assert abs((datetime.fromisoformat(rec["trusted_start"]) - (now - timedelta(hours=3))).total_seconds()) < 60
    sup = stack.auth("sup", "supervisor")
    alerts = (await stack.client.get("/v1/alerts?open=true", headers=sup)).json()["items"]
    alert = next(a for a in alerts if a["kind"] == "clock_fault" and a["subject_id"] == "cam-1970")
    dev = (await stack.client.get("/v1/devices/cam-1970", headers=sup)).json()
    assert dev["clock_status"] == "fault" and dev["last_drift_s"] > 50 * 365 * 86400
    assert dev["history"][0]["fault"]
    # Findable by received time and by corrected (trusted) time, not only by the camera's 1970 stamp.
    window = f"from={iso(now - timedelta(hours=4))}&to={iso(now + timedelta(minutes=5))}"
    for basis in ("received", "trusted"):
        found = (await stack.client.get(f"/v1/recordings?time_basis={basis}&{window}", headers=sup)).json()
        assert rec["id"] in [i["id"] for i in found["items"]], basis
    by_device = (await stack.client.get(f"/v1/recordings?time_basis=device&{window}", headers=sup)).json()
    assert rec["id"] not in [i["id"] for i in by_device["items"]]
    # Retention counts from the corrected time, never from 1970.
    assert datetime.fromisoformat(rec["retention"]["delete_after"]) > now + timedelta(days=30)
    ack = await stack.client.post(f"/v1/alerts/{alert['id']}/ack", json={"note": "battery replaced"}, headers=sup)
    assert ack.status_code == 200 and ack.json()["open"] is False
    again = await stack.client.post(f"/v1/alerts/{alert['id']}/ack", json={}, headers=sup)
    assert again.status_code == 409


async def test_untrusted_clock_counts_retention_from_receipt(stack):
    data = b"reset mid-shift" * 3000
    now = datetime.now(UTC)
    # Recorded on a good clock, then the clock reset before docking: the shift lands in the future,
    # so nothing can be trusted and retention counts from when the file was received.
    r = await stack.upload(data, device_clock_at_dock="1970-01-01T00:05:00Z",
                           recorded_start=iso(now - timedelta(hours=5)), recorded_end=iso(now - timedelta(hours=4)))
    rec = r.json()
    assert rec["time_trust"] == "untrusted" and rec["trusted_start"] is None
    received = datetime.fromisoformat(rec["received_at"])
    assert datetime.fromisoformat(rec["retention"]["delete_after"]) == received + timedelta(days=31)


async def test_officer_sees_only_own_footage(stack):
    mine = (await stack.upload(b"mine" * 3000, officer_id="pc-1")).json()
    theirs = (await stack.upload(b"theirs" * 3000, officer_id="pc-2")).json()
    pc1 = stack.auth("pc-1", "officer")
    items = (await stack.client.get("/v1/recordings", headers=pc1)).json()["items"]
    assert [i["id"] for i in items] == [mine["id"]]
    assert (await stack.client.get(f"/v1/recordings/{theirs['id']}", headers=pc1)).status_code == 404
    assert (await stack.client.get(f"/v1/recordings/{theirs['id']}/media", headers=pc1)).status_code == 404
    assert (await stack.client.get(f"/v1/recordings/{mine['id']}", headers=pc1)).status_code == 200


async def test_cursor_paging_walks_every_recording_once(stack):
    ids = {(await stack.upload(f"clip {i}".encode() * 500, parts=1)).json()["id"] for i in range(7)}
    sup = stack.auth("sup", "supervisor")
    seen, cursor = [], None
    while True:
        url = "/v1/recordings?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = (await stack.client.get(url, headers=sup)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids)


async def test_unreadable_media_is_kept_and_alerted(stack):
    data = b"not a video at all" * 1000
    rec = (await stack.upload(data, filename="weird.mp4")).json()
    await stack.drain_jobs()
    sup = stack.auth("sup", "supervisor")
    got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sup)).json()
    assert got["media"]["readable"] is False and got["status"] == "active"
    media = await stack.client.get(f"/v1/recordings/{rec['id']}/media", headers=sup)
    assert media.content == data
    alerts = (await stack.client.get("/v1/alerts?open=true", headers=sup)).json()["items"]
    assert any(a["kind"] == "unreadable_media" and a["subject_id"] == rec["id"] for a in alerts)
