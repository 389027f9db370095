"""Retention end to end on both stacks: sweep, flags, holds (by id, by query, docked late),
forecast, upcoming, restriction, tombstones, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.errors import Forbidden
from service.retention.sweep import sweep
from tests.fixtures.stack import iso
from tests.helpers import ADMIN, recording


async def _get(stack, rid):
    return await stack.client.get(f"/v1/recordings/{rid}", headers=stack.auth("sup", "supervisor"))


async def test_sweep_deletes_only_unprotected_footage_past_due(stack):
    stack.ctx.settings.allow_clock_override = True
    sup = stack.auth("sup", "supervisor")
    plain = await recording(stack, "plain", officer_id="pc-1")
    flagged = await recording(stack, "flagged", officer_id="pc-1")
    held = await recording(stack, "held", officer_id="pc-2")
    unflagged = await recording(stack, "unflag", officer_id="pc-1")

    pc1 = stack.auth("pc-1", "officer")
    f = await stack.client.post(f"/v1/recordings/{flagged['id']}/flags",
                                json={"category": "evidence", "reference": "CRIME/123", "reason": "assault"}, headers=pc1)
    assert f.status_code == 201, f.text
    assert (await _get(stack, flagged["id"])).json()["retention"]["delete_after"] is None
    f2 = (await stack.client.post(f"/v1/recordings/{unflagged['id']}/flags",
                                  json={"reference": "INC/9"}, headers=pc1)).json()
    h = await stack.client.post("/v1/holds", json={"kind": "legal", "reference": "LH/1", "reason": "civil claim",
                                                   "recording_ids": [held["id"]]}, headers=sup)
    assert h.status_code == 201 and h.json()["recordings"] == 1
    un = await stack.client.request("DELETE", f"/v1/flags/{f2['id']}", json={"reason": "no crime"}, headers=sup)
    assert un.status_code == 200 and un.json()["active"] is False

    as_of = datetime.now(UTC) + timedelta(days=40)
    fc = (await stack.client.get(f"/v1/retention/forecast?as_of={iso(as_of)}", headers=sup)).json()
    assert sorted(i["id"] for i in fc["items"]) == sorted([plain["id"], unflagged["id"]]) and fc["count"] == 2

    report = await sweep(stack.ctx, ADMIN, as_of=as_of)
    # On S3, footage that was evidence keeps its COMPLIANCE retention after the unflag until that runs out
    # (service/retention/objectlock.py): storage refuses the delete, the sweep reports it, a later one deletes.
    locked = [unflagged["id"]] if stack.mode == "pg_s3" else []
    assert sorted(rid for rid, _ in report.items) == sorted(i["id"] for i in fc["items"] if i["id"] not in locked)
    assert report.deleted == 2 - len(locked) and report.refused == len(locked)

    gone = await _get(stack, plain["id"])
    assert gone.status_code == 410
    body = gone.json()
    assert body["id"] == plain["id"] and body["sha256"] == plain["sha256"] and body["deleted_at"]
    assert "31 days" in body["policy"] and body["reason"]
    assert (await stack.client.get(f"/v1/recordings/{plain['id']}/media", headers=sup)).status_code == 410
    assert await stack.ctx.store.head(f"recordings/{plain['id']}") is None
    for kept in (flagged, held):
        assert (await _get(stack, kept["id"])).json()["status"] == "active"
        assert await stack.ctx.store.head(f"recordings/{kept['id']}") is not None
    audit = stack.auth("aud", "auditor")
    ev = (await stack.client.get(f"/v1/audit?object_id={plain['id']}&action=recording.deleted", headers=audit)).json()
    assert len(ev["items"]) == 1 and ev["items"][0]["details"]["sha256"] == plain["sha256"]
    assert (await stack.client.get("/v1/audit/verify", headers=audit)).json()["ok"] is True
    listed = (await stack.client.get("/v1/recordings?status=deleted", headers=sup)).json()["items"]
    assert {i["id"] for i in listed} == {plain["id"], unflagged["id"]} - set(locked)

    # Idempotent: a second sweep finds nothing; releasing the hold makes that footage eligible again.
    assert (await sweep(stack.ctx, ADMIN, as_of=as_of)).deleted == 0
    rel = await stack.client.request("DELETE", f"/v1/holds/{h.json()['id']}", json={"reason": "settled"}, headers=sup)
    assert rel.status_code == 200
    expected = [] if stack.mode == "pg_s3" else [held["id"]]  # S3: its retention has not run out yet
    assert [rid for rid, _ in (await sweep(stack.ctx, ADMIN, as_of=as_of)).items] == expected


async def test_query_hold_covers_footage_docked_later(stack):
    stack.ctx.settings.allow_clock_override = True
    sup = stack.auth("sup", "supervisor")
    now = datetime.now(UTC)
    window = {"officer_id": "pc-9", "from": iso(now - timedelta(days=2)), "to": iso(now)}
    before = await recording(stack, "early", officer_id="pc-9")
    h = await stack.client.post("/v1/holds", json={"kind": "complaint", "reference": "PSD/77",
                                                   "reason": "complaint about stop", "query": window}, headers=sup)
    assert h.status_code == 201 and before["id"] in h.json()["recording_ids"]
    # The camera is docked a week late (here: after the hold) with footage from inside the window.
    late = await recording(stack, "late", officer_id="pc-9", recorded_start=iso(now - timedelta(days=1)),
                           recorded_end=iso(now - timedelta(days=1) + timedelta(minutes=5)))
    other = await recording(stack, "other", officer_id="pc-10", recorded_start=iso(now - timedelta(days=1)),
                            recorded_end=iso(now - timedelta(days=1) + timedelta(minutes=5)))
    got = (await _get(stack, late["id"])).json()
    assert got["retention"]["delete_after"] is None and got["retention"]["holds"][0]["id"] == h.json()["id"]
    report = await sweep(stack.ctx, ADMIN, as_of=now + timedelta(days=60))
    deleted = {rid for rid, _ in report.items}
    assert other["id"] in deleted and not deleted & {before["id"], late["id"]}


async def test_future_as_of_needs_the_override(stack):
    stack.ctx.settings.allow_clock_override = False
    with pytest.raises(Forbidden):
        await sweep(stack.ctx, ADMIN, as_of=datetime.now(UTC) + timedelta(days=40))
    dry = await sweep(stack.ctx, ADMIN, dry_run=True)
    assert dry.dry_run and dry.deleted == 0


async def test_restriction_limits_who_sees_a_recording(stack):
    rec = await recording(stack, "incident", officer_id="pc-1")
    sup = stack.auth("sup", "supervisor")
    r = await stack.client.post(f"/v1/recordings/{rec['id']}/restrict",
                                json={"people": ["dci-1", "sup"], "reason": "death following police contact"}, headers=sup)
    assert r.status_code == 200 and r.json()["restricted"] is True
    assert (await _get(stack, rec["id"])).status_code == 200  # sup is named
    for who in (stack.auth("pc-1", "officer"), stack.auth("sup-2", "supervisor"), stack.auth("d", "disclosure")):
        assert (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=who)).status_code == 404
    assert (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=stack.auth("dci-1", "officer"))).status_code == 200
    assert (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=stack.auth("aud", "auditor"))).status_code == 200


async def test_upcoming_lists_own_footage_due_soon(stack):
    now = datetime.now(UTC)
    old = await recording(stack, "old", officer_id="pc-5", recorded_start=iso(now - timedelta(days=27)),
                          recorded_end=iso(now - timedelta(days=27) + timedelta(minutes=3)), device_clock_at_dock=iso(now))
    fresh = await recording(stack, "fresh", officer_id="pc-5")
    someone = await recording(stack, "else", officer_id="pc-6", recorded_start=iso(now - timedelta(days=27)),
                              recorded_end=iso(now - timedelta(days=27) + timedelta(minutes=3)))
    # Camera clock drifted days ago? No: the dock clock is right, so the 27-day-old capture time is trusted.
    up = (await stack.client.get("/v1/retention/upcoming?days=7", headers=stack.auth("pc-5", "officer"))).json()
    assert [i["id"] for i in up["items"]] == [old["id"]]
    sup_view = (await stack.client.get("/v1/retention/upcoming?days=7", headers=stack.auth("s", "supervisor"))).json()
    assert {old["id"], someone["id"]} <= {i["id"] for i in sup_view["items"]}
    assert fresh["id"] not in {i["id"] for i in sup_view["items"]}


async def test_stats_counts_per_month_without_personal_data(stack):
    stack.ctx.settings.allow_clock_override = True
    rec = await recording(stack, "s1", officer_id="pc-secret")
    await recording(stack, "s2", officer_id="pc-secret")
    await stack.client.post(f"/v1/recordings/{rec['id']}/flags", json={"reference": "X/1"}, headers=stack.auth("s", "supervisor"))
    await sweep(stack.ctx, ADMIN, as_of=datetime.now(UTC) + timedelta(days=40))
    r = await stack.client.get("/v1/stats")
    assert r.status_code == 200
    body = r.json()
    assert body["totals"]["uploaded"] == 2 and body["totals"]["flagged"] == 1 and body["totals"]["auto_deleted"] == 1
    assert "pc-secret" not in r.text and rec["id"] not in r.text


@pytest.mark.parametrize("body,status", [
    ({"category": "evidence"}, 422),  # no reference
    ({"category": "evidence", "reference": "   "}, 422),
    ({"category": "nonsense", "reference": "X"}, 422),
    ({"category": "training", "reference": "T/1"}, 422),  # needs consent
    ({"reference": "X", "clip_start_s": 5, "clip_end_s": 2}, 422),
    ({"reference": "X", "clip_start_s": 5}, 422),
])
async def test_bad_flags_change_nothing(stack, body, status):
    rec = await recording(stack, "bad")
    r = await stack.client.post(f"/v1/recordings/{rec['id']}/flags", json=body, headers=stack.auth("s", "supervisor"))
    assert r.status_code == status and r.headers["content-type"] == "application/problem+json"
    after = (await _get(stack, rec["id"])).json()
    assert after["retention"] == rec["retention"]


async def test_unflag_needs_a_supervisor_and_a_reason(stack):
    rec = await recording(stack, "uf", officer_id="pc-1")
    flag = (await stack.client.post(f"/v1/recordings/{rec['id']}/flags", json={"reference": "C/1"},
                                    headers=stack.auth("pc-1", "officer"))).json()
    by_officer = await stack.client.request("DELETE", f"/v1/flags/{flag['id']}", json={"reason": "mine"},
                                            headers=stack.auth("pc-1", "officer"))
    assert by_officer.status_code == 403
    no_reason = await stack.client.request("DELETE", f"/v1/flags/{flag['id']}", json={},
                                           headers=stack.auth("s", "supervisor"))
    assert no_reason.status_code == 422
    assert (await _get(stack, rec["id"])).json()["retention"]["flags"][0]["id"] == flag["id"]
    # An officer cannot flag someone else's footage (it is not even visible to them).
    other = await recording(stack, "other", officer_id="pc-2")
    r = await stack.client.post(f"/v1/recordings/{other['id']}/flags", json={"reference": "C/2"},
                                headers=stack.auth("pc-1", "officer"))
    assert r.status_code == 404


@pytest.mark.parametrize("body", [
    {"kind": "legal", "reference": "L/1", "reason": "r", "query": {}},
    {"kind": "legal", "reference": "L/1", "reason": "r"},
    {"kind": "legal", "reference": "L/1", "reason": "r", "recording_ids": []},
    {"kind": "legal", "reference": "L/1", "reason": "r", "query": {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}},
    {"kind": "party", "reference": "L/1", "reason": "r", "query": {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}},
    {"kind": "legal", "reference": "L/1", "reason": "r", "recording_ids": ["rec_does_not_exist"]},
])
async def test_bad_holds_change_nothing(stack, body):
    sup = stack.auth("s", "supervisor")
    r = await stack.client.post("/v1/holds", json=body, headers=sup)
    assert r.status_code in (404, 422) and r.headers["content-type"] == "application/problem+json"
    assert (await stack.client.get("/v1/holds", headers=sup)).json()["items"] == []


async def test_storage_legal_hold_follows_protection(stack):
    rec = await recording(stack, "locked", officer_id="pc-1")
    key = f"recordings/{rec['id']}"
    if stack.mode == "embedded":
        # Local disk has no Object Lock: the store says so, and protection rests on the database alone.
        assert await stack.ctx.store.set_legal_hold(key, True) is False
        return
    sup = stack.auth("s", "supervisor")
    flag = (await stack.client.post(f"/v1/recordings/{rec['id']}/flags", json={"reference": "C/1"}, headers=sup)).json()
    # Even a bug or a stolen key that skips the database cannot delete evidence: storage refuses.
    assert await stack.ctx.store.delete([key]) == [key]
    assert await stack.ctx.store.head(key) is not None
    await stack.client.request("DELETE", f"/v1/flags/{flag['id']}", json={"reason": "not needed"}, headers=sup)
    # The legal hold is lifted at once; the COMPLIANCE retention set with it cannot be, and still refuses
    # until it runs out (service/retention/objectlock.py).
    assert await stack.ctx.store.delete([key]) == [key]
    assert await stack.ctx.store.head(key) is not None


async def test_sweep_removes_every_version_it_recorded(stack):
    """On a versioned (Object Lock) bucket the recording's VersionId is kept, so the sweep deletes that
    version directly instead of listing; afterwards no version or delete marker is left."""
    stack.ctx.settings.allow_clock_override = True
    rec = await recording(stack, "versioned")
    from service.recordings.repository import get

    async with stack.ctx.sessions() as s:
        row = await get(s, rec["id"])
    assert (row.storage_version is not None) == (stack.mode == "pg_s3")
    report = await sweep(stack.ctx, ADMIN, as_of=datetime.now(UTC) + timedelta(days=40))
    assert report.deleted == 1
    if stack.mode == "pg_s3":
        import boto3

        s3 = boto3.client("s3", endpoint_url=stack.settings.s3_endpoint_url, region_name="us-east-1")
        listed = s3.list_object_versions(Bucket=stack.settings.object_store_url.removeprefix("s3://"),
                                         Prefix=f"recordings/{rec['id']}")
        assert listed.get("Versions", []) == [] and listed.get("DeleteMarkers", []) == []
    else:
        assert await stack.ctx.store.head(f"recordings/{rec['id']}") is None


async def test_footage_docked_into_a_query_hold_is_locked_in_storage_too(stack):
    now = datetime.now(UTC)
    await stack.client.post("/v1/holds", json={"kind": "iopc", "reference": "IOPC/3", "reason": "referral",
                                               "query": {"officer_id": "pc-4", "from": iso(now - timedelta(days=1)),
                                                         "to": iso(now)}}, headers=stack.auth("s", "supervisor"))
    late = await recording(stack, "late-locked", officer_id="pc-4")
    key = f"recordings/{late['id']}"
    if stack.mode == "pg_s3":
        assert await stack.ctx.store.delete([key]) == [key]  # refused: legal hold set at completion
    assert await stack.ctx.store.head(key) is not None
