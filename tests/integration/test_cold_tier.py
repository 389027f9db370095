"""The cold tier on both stacks (issue 17 point 5): kept footage older than ``cold_after_days`` moves to cold
storage with its hash proven, media answers 409 until a restore, a bundle of cold clips waits for the restore
and then builds by itself, restores expire, the sweep deletes every copy, and the forecast splits by tier.

What moto's S3 server really does here (checked, so the tests rely on nothing AWS lacks):
- CopyObject with ``StorageClass=GLACIER`` stores the class (HeadObject says GLACIER), and with
  ``ChecksumAlgorithm=SHA256`` returns the SHA-256 of the copy it stored (as AWS does for single-part copies).
- GetObject of a GLACIER object answers ``InvalidObjectState`` (as AWS) until a restore.
- RestoreObject completes at once (AWS: minutes to 48 hours); HeadObject's ``Restore`` header then says
  ``ongoing-request="false"`` with an expiry date. So in moto a restore is ready on the first poll; the
  code never waits in a request either way (a job polls).
- Object Lock retention and legal hold given on CopyObject are kept on the copy, and a locked hot original
  refuses its delete, so evidence's hot original outlives the move until its retention runs out.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import select

from service.audit.models import AuditEvent
from service.coldtier.tasks import move_to_cold, poll_cold_restores
from service.recordings.models import Recording
from service.retention.sweep import sweep
from tests.fixtures.s3 import s3_client
from tests.helpers import ADMIN, assert_problem, case_with_exhibits, iso, recording

LATER = timedelta(days=400)  # past cold_after_days (365 in policies/retention.yaml)


def _bucket(stack) -> str:
    return stack.settings.storage_url.removeprefix("s3://").split("/")[0]


async def _row(stack, rid: str) -> Recording:
    async with stack.ctx.sessions() as s:
        return await s.get(Recording, rid)


async def _actions(stack, rid: str) -> list[str]:
    async with stack.ctx.sessions() as s:
        rows = await s.execute(select(AuditEvent.action).where(AuditEvent.object_id == rid).order_by(AuditEvent.seq))
        return list(rows.scalars())


async def _sha_of(store, key: str) -> str:
    h = hashlib.sha256()
    async for chunk in store.read(key):
        h.update(chunk)
    return h.hexdigest()


async def _move(stack, **kw) -> dict:
    stack.ctx.settings.allow_clock_override = True  # a test system's later clock (as the sweep tests do)
    return await move_to_cold(stack.ctx, as_of=iso(datetime.now(UTC) + LATER), **kw)


async def test_cold_footage_moves_verified_answers_409_and_a_bundle_waits_for_its_restore(stack):
    dis, cid, a, b = await case_with_exhibits(stack, "cold")  # exhibits: flagged evidence, held by the case
    plain = await recording(stack, "plain")  # not kept: it is gone long before 400 days
    report = await _move(stack)
    assert report["moved"] == 2 and report["failed"] == 0, report
    sup = stack.auth("sup-1", "supervisor")
    for rec in (a, b):
        got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sup)).json()
        assert got["storage"]["tier"] == "cold" and got["storage"]["restore"] == "none", got["storage"]
        row = await _row(stack, rec["id"])
        assert row.storage_key == f"cold/recordings/{rec['id']}"
        assert "recording.moved_to_cold" in await _actions(stack, rec["id"])
    assert (await stack.client.get(f"/v1/recordings/{plain['id']}", headers=sup)).json()["storage"]["tier"] == "hot"

    cold_key = f"cold/recordings/{a['id']}"
    if stack.mode == "embedded":
        # The hot original is gone; the cold store holds the same bytes.
        assert report["hot_copies_removed"] == 2
        assert await stack.ctx.store.head(f"recordings/{a['id']}") is None
        assert await _sha_of(stack.ctx.cold.store, cold_key) == a["sha256"]
        assert (await _row(stack, a["id"])).other_key is None
    else:
        client = s3_client(stack.settings.s3_endpoint_url)
        head = client.head_object(Bucket=_bucket(stack), Key=cold_key)
        assert head["StorageClass"] == "GLACIER"
        # Object Lock came along: the evidence's legal hold and COMPLIANCE retention are on the cold copy.
        assert head.get("ObjectLockLegalHoldStatus") == "ON" and head.get("ObjectLockMode") == "COMPLIANCE"
        with pytest.raises(ClientError) as e:
            client.get_object(Bucket=_bucket(stack), Key=cold_key)
        assert e.value.response["Error"]["Code"] == "InvalidObjectState"
        # The hot original keeps its COMPLIANCE retention: storage refuses its delete, the row still names it.
        assert report["hot_copies_kept_by_lock"] == 2
        row = await _row(stack, a["id"])
        assert row.other_key == f"recordings/{a['id']}"
        assert client.head_object(Bucket=_bucket(stack), Key=row.other_key)["ContentLength"] == a["size_bytes"]

    # Media of cold footage: 409 that says how to get it back; nothing streamed.
    r = await stack.client.get(f"/v1/recordings/{a['id']}/media", headers=dis)
    body = assert_problem(r, 409, slug="in-cold-storage")
    assert body["restore_url"] == f"/v1/recordings/{a['id']}/restore" and "POST" in body["detail"]

    # A bundle of cold exhibits asks for their restore and waits; the restore poll sends it on its way.
    bid = (await stack.client.post(f"/v1/cases/{cid}/bundles", headers=dis)).json()["bundle_id"]
    if stack.mode == "pg_s3":  # jobs run only when a worker is let run: the build can be watched step by step
        from service.disclosure.tasks import build_bundle

        assert await build_bundle(stack.ctx, bid) == "waiting"
        st = (await stack.client.get(f"/v1/bundles/{bid}", headers=dis)).json()
        assert st["status"] == "waiting", st
        got = (await stack.client.get(f"/v1/recordings/{a['id']}", headers=sup)).json()
        assert got["storage"]["restore"] == "requested"
    await stack.drain_jobs()
    st = (await stack.client.get(f"/v1/bundles/{bid}", headers=dis)).json()
    assert st["status"] == "ready", st
    async with stack.ctx.sessions() as s:
        waits = (await s.execute(select(AuditEvent.details).where(AuditEvent.action == "bundle.waiting"))).scalars().all()
    assert [sorted(w["waiting_for"]) for w in waits] == [sorted([a["id"], b["id"]])]
    for rec in (a, b):
        acts = await _actions(stack, rec["id"])
        assert "recording.restore_requested" in acts and "recording.restored" in acts
        assert acts.index("recording.restored") < acts.index("recording.clipped")

    # Restored: the media is the same bytes again, until the restore lapses.
    got = (await stack.client.get(f"/v1/recordings/{a['id']}", headers=sup)).json()["storage"]
    assert got["restore"] == "ready" and got["restored_until"]
    media = await stack.client.get(f"/v1/recordings/{a['id']}/media", headers=dis)
    assert media.status_code == 200 and hashlib.sha256(media.content).hexdigest() == a["sha256"]
    async with stack.ctx.sessions() as s, s.begin():
        (await s.get(Recording, a["id"])).restored_until = datetime.now(UTC) - timedelta(seconds=1)
    r = await stack.client.get(f"/v1/recordings/{a['id']}/media", headers=dis)
    assert_problem(r, 409, slug="in-cold-storage")
    assert (await poll_cold_restores(stack.ctx))["expired"] == 1
    row = await _row(stack, a["id"])
    assert row.restore_status == "none" and row.restored_until is None
    if stack.mode == "embedded":  # the restored copy went with it
        assert row.other_key is None and await stack.ctx.store.list("restored/") != []  # b's is still there
        assert await stack.ctx.store.head(f"restored/cold/recordings/{a['id']}") is None


async def test_restore_endpoint_asks_once_audits_every_ask_and_refuses_what_is_not_cold(stack):
    off = stack.auth("officer-1", "officer")
    mine = await recording(stack, "mine", officer_id="officer-1")
    theirs = await recording(stack, "theirs", officer_id="officer-2")
    for rec in (mine, theirs):
        r = await stack.client.post(f"/v1/recordings/{rec['id']}/flags", json={"reference": "CR/7"},
                                    headers=stack.auth("sup-1", "supervisor"))
        assert r.status_code == 201, r.text
    r = await stack.client.post(f"/v1/recordings/{mine['id']}/restore", headers=off)
    assert_problem(r, 409, slug="not-in-cold-storage")
    assert (await _move(stack))["moved"] == 2
    # Not theirs to see, not theirs to restore (404, never 403); a dock may not at all.
    assert_problem(await stack.client.post(f"/v1/recordings/{theirs['id']}/restore", headers=off), 404)
    assert_problem(await stack.client.post(f"/v1/recordings/{mine['id']}/restore", headers=stack.dock), 403)
    assert_problem(await stack.client.post("/v1/recordings/rec_nope/restore", headers=off), 404)
    r = await stack.client.post(f"/v1/recordings/{mine['id']}/restore", headers=off)
    assert r.status_code == 202 and r.json()["storage"]["restore"] == "requested", r.text
    asked_at = r.json()["storage"]["restore_requested_at"]
    r = await stack.client.post(f"/v1/recordings/{mine['id']}/restore", headers=off)
    assert r.status_code == 202 and r.json()["storage"]["restore"] in ("requested", "ready")
    assert r.json()["storage"]["restore_requested_at"] == asked_at  # asked once
    await stack.drain_jobs()
    assert (await stack.client.get(f"/v1/recordings/{mine['id']}", headers=off)).json()["storage"]["restore"] == "ready"
    assert (await _actions(stack, mine["id"])).count("recording.restore_requested") == 2
    assert (await _row(stack, theirs["id"])).restore_status == "none"


async def test_the_sweep_deletes_cold_footage_and_every_copy_of_it(stack):
    sup = stack.auth("sup-1", "supervisor")
    rec = await recording(stack, "training")
    r = await stack.client.post(f"/v1/recordings/{rec['id']}/flags", headers=sup,
                                json={"category": "training", "reference": "TR/1", "consent_reference": "C-9"})
    assert r.status_code == 201, r.text
    assert (await _move(stack))["moved"] == 1
    r = await stack.client.post(f"/v1/recordings/{rec['id']}/restore", headers=sup)
    assert r.status_code == 202
    await stack.drain_jobs()
    row = await _row(stack, rec["id"])
    assert row.storage_tier == "cold" and row.restore_status == "ready"
    if stack.mode == "embedded":  # local disk: a restored copy in the hot store is the second copy
        assert row.other_key == f"restored/cold/recordings/{rec['id']}"
        assert await _sha_of(stack.ctx.store, row.other_key) == rec["sha256"]

    report = await sweep(stack.ctx, ADMIN, as_of=datetime.now(UTC) + timedelta(days=800))
    assert report.deleted == 1 and report.refused == 0
    gone = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sup))
    assert_problem(gone, 410, slug="recording-deleted")
    # Proof: no copy anywhere, in either tier, in any version.
    if stack.mode == "embedded":
        for store in (stack.ctx.store, stack.ctx.cold.store):
            assert [o.key for o in await store.list("") if rec["id"] in o.key] == []
    else:
        client = s3_client(stack.settings.s3_endpoint_url)
        listed = client.list_object_versions(Bucket=_bucket(stack))
        left = [v["Key"] for v in listed.get("Versions", []) + listed.get("DeleteMarkers", []) if rec["id"] in v["Key"]]
        assert left == []
    async with stack.ctx.sessions() as s:
        d = (await s.execute(select(AuditEvent.details).where(AuditEvent.action == "recording.deleted",
                                                              AuditEvent.object_id == rec["id"]))).scalar_one()
    assert d["storage_tier"] == "cold" and d["storage_key"] == f"cold/recordings/{rec['id']}"


async def test_tier_forecast_follows_the_policy(stack):
    sup = stack.auth("sup-1", "supervisor")
    kept = await recording(stack, "kept")
    plain = await recording(stack, "plain-f")
    r = await stack.client.post(f"/v1/recordings/{kept['id']}/flags", json={"reference": "CR/9"}, headers=sup)
    assert r.status_code == 201
    r = await stack.client.get("/v1/retention/forecast/tiers?months=14", headers=sup)
    assert r.status_code == 200, r.text
    f = r.json()
    assert f["cold_after_days"] == 365 and len(f["months"]) == 14
    first, second, last = f["months"][0], f["months"][1], f["months"][-1]
    both = kept["size_bytes"] + plain["size_bytes"]
    # Month 1 may or may not still hold the unflagged footage (31 days), month 2 does not; after a year the
    # evidence is cold.
    assert first["hot_bytes"] in (both, kept["size_bytes"]) and first["cold_bytes"] == 0
    assert second["hot_bytes"] == kept["size_bytes"] and second["hot_recordings"] == 1
    assert last["cold_bytes"] == kept["size_bytes"] and last["hot_bytes"] == 0
    # Restricted away from this supervisor: in none of their counts, bytes included.
    r = await stack.client.post(f"/v1/recordings/{kept['id']}/restrict", headers=stack.auth("sup-2", "supervisor"),
                                json={"people": ["sup-2"], "reason": "serious incident"})
    assert r.status_code == 200, r.text
    f = (await stack.client.get("/v1/retention/forecast/tiers?months=14", headers=sup)).json()
    assert f["months"][-1]["cold_bytes"] == 0 and f["months"][1]["hot_recordings"] == 0
    assert_problem(await stack.client.get("/v1/retention/forecast/tiers?months=0", headers=sup), 422)
    assert_problem(await stack.client.get("/v1/retention/forecast/tiers",
                                          headers=stack.auth("o", "officer")), 403)


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
async def test_console_shows_the_tier_and_restores_from_the_recording_page(stack):
    from tests.helpers import console_session, csrf

    cookies = await console_session(stack, "sup-c", ["supervisor"])
    rec = await recording(stack, "console-cold")
    r = await stack.client.post(f"/v1/recordings/{rec['id']}/flags", json={"reference": "CR/3"},
                                headers=stack.auth("sup-1", "supervisor"))
    assert r.status_code == 201
    page = await stack.client.get(f"/ui/recordings/{rec['id']}", headers=cookies)
    assert 'data-testid="storage">hot storage' in page.text and "tier-badge" not in page.text
    assert (await _move(stack))["moved"] == 1
    page = await stack.client.get(f"/ui/recordings/{rec['id']}", headers=cookies)
    assert page.status_code == 200 and 'data-testid="tier-badge"' in page.text and "cold-notice" in page.text
    assert 'data-testid="player"' not in page.text
    r = await stack.client.post(f"/ui/recordings/{rec['id']}/restore", data={"csrf_token": csrf(page.text)},
                                headers=cookies)
    assert r.status_code == 303, r.text
    await stack.drain_jobs()
    page = await stack.client.get(f"/ui/recordings/{rec['id']}", headers=cookies)
    assert "cold storage · restored" in page.text and 'data-testid="player"' in page.text
    assert (await _actions(stack, rec["id"])).count("recording.restore_requested") == 1
