"""Subject access requests end to end on both stacks: intake places a hold at once (footage docked later
included), the ICO deadline, access by role only, redaction through the real ffmpeg and detector,
disclosure of redacted copies only behind a link that answers 409 until built, closing, deadline alerts,
stats without personal data, and a request logged on day 30 keeping its footage through a day-40 sweep."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

from service.retention.sweep import sweep
from service.sar import deadline
from tests.fixtures.media import cached_clip
from tests.fixtures.stack import iso
from tests.helpers import ADMIN, CONTACT, REQUESTER, recording, sar_body


async def test_intake_holds_candidates_at_once_and_only_handlers_see_it(stack):
    now = datetime.now(UTC)
    inside = await recording(stack, "in", officer_id="pc-7", start=now - timedelta(hours=5))
    other_officer = await recording(stack, "oth", officer_id="pc-8", start=now - timedelta(hours=5))
    before = await recording(stack, "old", officer_id="pc-7", start=now - timedelta(days=3))
    sar_h = stack.auth("sar-1", "sar_handler")
    body = sar_body(now - timedelta(days=1), now, received_at="2026-01-31T10:00:00Z")
    body["query"]["officer_id"] = "pc-7"
    r = await stack.client.post("/v1/sars", json=body, headers=sar_h)
    assert r.status_code == 201, r.text
    sar = r.json()
    assert sar["regime"] == "law_enforcement" and sar["status"] == "open"
    # 31 Jan 2026 -> 28 Feb (no 31st) is a Saturday -> Monday 2 March.
    assert sar["due_date"] == "2026-03-02" and sar["due_at"].startswith("2026-03-02")
    assert [c["id"] for c in sar["candidates"]] == [inside["id"]]
    rec = (await stack.client.get(f"/v1/recordings/{inside['id']}", headers=sar_h)).json()
    assert rec["retention"]["delete_after"] is None
    assert sar["hold_id"] in [h["id"] for h in rec["retention"]["holds"]]
    for other in (other_officer, before):
        o = (await stack.client.get(f"/v1/recordings/{other['id']}", headers=sar_h)).json()
        assert o["retention"]["delete_after"] is not None

    late = await recording(stack, "late", officer_id="pc-7", start=now - timedelta(hours=3))  # docked after the request
    cands = (await stack.client.get(f"/v1/sars/{sar['id']}/candidates", headers=sar_h)).json()
    assert {c["id"] for c in cands} == {inside["id"], late["id"]}

    for who in (stack.auth("sup", "supervisor"), stack.auth("dc", "disclosure"), stack.auth("pc-7", "officer"),
                stack.auth("adm", "admin")):
        assert (await stack.client.get(f"/v1/sars/{sar['id']}", headers=who)).status_code == 403
        assert (await stack.client.post("/v1/sars", json=body, headers=who)).status_code == 403
    auditor = stack.auth("aud", "auditor")
    assert (await stack.client.get(f"/v1/sars/{sar['id']}", headers=auditor)).json()["requester"] == REQUESTER
    viewed = (await stack.client.get(f"/v1/audit?object_id={sar['id']}", headers=auditor)).json()["items"]
    assert [e["actor"] for e in viewed if e["action"] == "sar.viewed"] == ["aud"]  # reading personal data is audited
    assert (await stack.client.post(f"/v1/sars/{sar['id']}/close", json={"outcome": "x"},
                                    headers=auditor)).status_code == 403
    # The SAR's hold is released by closing the SAR, not through the generic hold endpoint.
    rel = await stack.client.request("DELETE", f"/v1/holds/{sar['hold_id']}", json={"reason": "tidy"},
                                     headers=sar_h)
    assert rel.status_code == 409 and rel.json()["type"].endswith("/hold-owned")

    # Personal data stays out of the audit, the metrics and the public stats.
    events = (await stack.client.get("/v1/audit?limit=500", headers=auditor)).text
    metrics = (await stack.client.get("/metrics")).text
    stats = (await stack.client.get("/v1/stats")).text
    for text in (events, metrics, stats):
        assert REQUESTER not in text and CONTACT not in text and "red coat" not in text
    assert (await stack.client.get("/v1/stats")).json()["totals"]["sars_received"] == 1


async def test_sar_logged_on_day_30_keeps_footage_through_a_day_40_sweep(stack):
    stack.ctx.settings.allow_clock_override = True
    now = datetime.now(UTC)
    day0 = now - timedelta(days=30)
    subject = await recording(stack, "subj", officer_id="pc-1", start=day0)
    control = await recording(stack, "ctrl", officer_id="pc-2", start=day0)
    sar_h = stack.auth("sar-1", "sar_handler")
    body = sar_body(day0 - timedelta(hours=1), day0 + timedelta(hours=1))
    body["query"]["officer_id"] = "pc-1"
    sar = (await stack.client.post("/v1/sars", json=body, headers=sar_h)).json()
    assert [c["id"] for c in sar["candidates"]] == [subject["id"]]

    day40 = now + timedelta(days=10)
    report = await sweep(stack.ctx, ADMIN, as_of=day40)
    deleted = {rid for rid, _ in report.items}
    assert control["id"] in deleted and subject["id"] not in deleted
    assert (await stack.client.get(f"/v1/recordings/{subject['id']}", headers=sar_h)).status_code == 200
    assert (await stack.client.get(f"/v1/recordings/{control['id']}", headers=sar_h)).status_code == 410

    closed = await stack.client.post(f"/v1/sars/{sar['id']}/close", json={"outcome": "no footage of the requester"},
                                     headers=sar_h)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    again = await stack.client.post(f"/v1/sars/{sar['id']}/close", json={"outcome": "again"}, headers=sar_h)
    assert again.status_code == 409
    report = await sweep(stack.ctx, ADMIN, as_of=day40)
    # On S3 the hold's COMPLIANCE retention outlives the SAR until it runs out (retention/objectlock.py).
    expected = [] if stack.mode == "pg_s3" else [subject["id"]]
    assert [rid for rid, _ in report.items] == expected and report.refused == 1 - len(expected)


async def test_redact_disclose_and_close(stack):
    sar_h = stack.auth("sar-1", "sar_handler")
    now = datetime.now(UTC)
    clip = cached_clip(seconds=4, width=320, height=240, gop_s=1.0).read_bytes()
    rec = await recording(stack, "vid", data=clip, officer_id="pc-3", start=now - timedelta(hours=2))
    await stack.drain_jobs()  # probe: size and duration known
    sar = (await stack.client.post("/v1/sars", json=sar_body(now - timedelta(days=1), now), headers=sar_h)).json()
    item = await stack.client.post(f"/v1/sars/{sar['id']}/items",
                                   json={"recording_id": rec["id"], "clip_start_s": 0.5, "clip_end_s": 3.5},
                                   headers=sar_h)
    assert item.status_code == 201, item.text
    iid = item.json()["id"]
    assert item.json()["redaction"]["status"] == "none"

    unredacted = await stack.client.post(f"/v1/sars/{sar['id']}/disclose", json={}, headers=sar_h)
    assert unredacted.status_code == 409 and unredacted.json()["type"].endswith("/unredacted-item")

    plan = {"auto_faces": True, "boxes": [{"start_s": 1.0, "end_s": 2.0, "x": 10, "y": 10, "w": 100, "h": 80}],
            "mute": [{"start_s": 1.0, "end_s": 2.0}]}
    r = await stack.client.post(f"/v1/sars/{sar['id']}/items/{iid}/redaction", json=plan, headers=sar_h)
    assert r.status_code == 202, r.text
    assert r.json()["redaction"]["status"] == r.json()["status"] == "queued"
    assert r.json()["job_id"] == r.json()["redaction"]["run"]
    await stack.drain_jobs()
    got = (await stack.client.get(f"/v1/sars/{sar['id']}", headers=sar_h)).json()
    red = got["items"][0]["redaction"]
    assert red["status"] == "ready" and red["progress"] == 1.0, red
    assert red["log"]["requested_by"] == "sar-1" and red["log"]["source_sha256"] == rec["sha256"]
    # The stored plan states every choice, defaults included (a box follows nothing unless asked).
    assert red["log"]["detector"]["name"] and red["log"]["params"] == {
        **plan, "boxes": [{**b, "follow": False} for b in plan["boxes"]], "keep_tracks": []}
    assert red["sha256"] != rec["sha256"]
    review = await stack.client.get(f"/v1/sars/{sar['id']}/items/{iid}/redacted", headers=sar_h)
    assert review.status_code == 200 and hashlib.sha256(review.content).hexdigest() == red["sha256"]
    part = await stack.client.get(f"/v1/sars/{sar['id']}/items/{iid}/redacted", headers={**sar_h, "Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == review.content[:10]
    original = await stack.client.get(f"/v1/recordings/{rec['id']}/media", headers=sar_h)
    assert hashlib.sha256(original.content).hexdigest() == rec["sha256"]  # the original is untouched

    d = await stack.client.post(f"/v1/sars/{sar['id']}/disclose", json={"max_downloads": 1}, headers=sar_h)
    assert d.status_code == 202, d.text
    path = "/" + d.json()["url"].split("/", 3)[3]
    if stack.mode == "pg_s3":  # arq: nothing runs until a worker drains the queue
        early = await stack.client.get(path)
        assert early.status_code == 409 and early.json()["type"].endswith("/bundle-not-ready")
    await stack.drain_jobs()
    # A SAR's bundle is read through its SAR (the bundle endpoints answer 404 for it).
    bundle = (await stack.client.get(f"/v1/sars/{sar['id']}/disclosure", headers=sar_h)).json()["bundle"]
    assert bundle["status"] == "ready" and bundle["sar_id"] == sar["id"], bundle
    dl = await stack.client.get(path)  # the 409 above did not use up the single download
    assert dl.status_code == 200, dl.text
    assert (await stack.client.get(path)).status_code == 410
    z = zipfile.ZipFile(io.BytesIO(dl.content))
    names = set(z.namelist())
    video = f"01-{rec['id']}.mp4"
    assert names == {video, f"01-{rec['id']}.redaction.json", "manifest.json", "manifest.csv", "manifest.sig",
                     "signing-key.pem"}
    assert hashlib.sha256(z.read(video)).hexdigest() == red["sha256"]
    assert all(hashlib.sha256(z.read(n)).hexdigest() != rec["sha256"] for n in names)  # never the original
    log = json.loads(z.read(f"01-{rec['id']}.redaction.json"))
    assert log["run"] == red["run"] and log["params"]["mute"] == plan["mute"]
    manifest = json.loads(z.read("manifest.json"))
    assert manifest["files"][0]["sha256"] == red["sha256"] and REQUESTER not in json.dumps(manifest)

    # Disclosing again (say after a re-redaction) replaces the link: the old one stops working.
    again = await stack.client.post(f"/v1/sars/{sar['id']}/disclose", json={}, headers=sar_h)
    assert again.status_code == 202 and again.json()["share_id"] != d.json()["share_id"]
    old = await stack.client.get(path, headers={"Range": "bytes=10-"})
    assert old.status_code == 410 and old.json()["reason"] == "revoked"
    await stack.drain_jobs()
    assert (await stack.client.get("/" + again.json()["url"].split("/", 3)[3])).status_code == 200

    closed = (await stack.client.post(f"/v1/sars/{sar['id']}/close", json={"outcome": "disclosed"},
                                      headers=sar_h)).json()
    assert closed["status"] == "closed" and closed["outcome"] == "disclosed"
    rec_after = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sar_h)).json()
    assert sar["hold_id"] not in [h["id"] for h in rec_after["retention"]["holds"] if h.get("active", True)]
    assert rec_after["retention"]["delete_after"] is not None


async def test_deadline_alerts_overdue_list_extension_and_clarification(stack):
    sar_h = stack.auth("sar-1", "sar_handler")
    now = datetime.now(UTC)
    window = (now - timedelta(days=2), now - timedelta(days=1))
    old = (await stack.client.post("/v1/sars", json=sar_body(*window, received_at=iso(now - timedelta(days=40))),
                                   headers=sar_h)).json()
    recent = (await stack.client.post("/v1/sars", json=sar_body(*window, received_at=iso(now - timedelta(days=26)),
                                                                  regime="uk_gdpr"), headers=sar_h)).json()
    fresh = (await stack.client.post("/v1/sars", json=sar_body(*window), headers=sar_h)).json()
    assert old["overdue"] is True and fresh["overdue"] is False and old["days_left"] < 0
    due_recent = datetime.fromisoformat(recent["due_at"].replace("Z", "+00:00"))

    overdue = (await stack.client.get("/v1/sars?overdue=true", headers=sar_h)).json()["items"]
    assert [s["id"] for s in overdue] == [old["id"]]
    assert {s["id"] for s in (await stack.client.get("/v1/sars?overdue=false", headers=sar_h)).json()["items"]} == {
        recent["id"], fresh["id"]}

    await stack.ctx.jobs.enqueue("sar_deadlines")
    await stack.drain_jobs()
    alerts = (await stack.client.get("/v1/alerts?open=true", headers=stack.auth("sup", "supervisor"))).json()["items"]
    by_subject = {a["subject_id"]: a for a in alerts if a["kind"].startswith("sar_")}
    assert by_subject[old["id"]]["kind"] == "sar_overdue"
    assert (recent["id"] in by_subject) == (due_recent < now + timedelta(days=7))
    assert fresh["id"] not in by_subject
    assert all(REQUESTER not in json.dumps(a) for a in alerts)
    stats = (await stack.client.get("/v1/stats")).json()["totals"]
    assert stats["sars_received"] == 3 and stats["sars_overdue"] == 1

    # Part 3 requests are never extended; UK GDPR ones by at most two months in all.
    refused = await stack.client.post(f"/v1/sars/{old['id']}/extend", json={"months": 1, "reason": "complex"},
                                      headers=sar_h)
    assert refused.status_code == 409 and refused.json()["type"].endswith("/extension-not-allowed")
    ext = (await stack.client.post(f"/v1/sars/{recent['id']}/extend", json={"months": 2, "reason": "many clips"},
                                   headers=sar_h)).json()
    start = deadline.receipt_day(now - timedelta(days=26))
    assert ext["due_date"] == deadline.due_date(start, 3).isoformat() and ext["extended_months"] == 2
    more = await stack.client.post(f"/v1/sars/{recent['id']}/extend", json={"months": 1, "reason": "more"},
                                   headers=sar_h)
    assert more.status_code == 409 and more.json()["type"].endswith("/extension-limit")

    # Asking for identity stops the month; it runs again from the day the answer arrives.
    asked = (await stack.client.post(f"/v1/sars/{old['id']}/information-request", json={"what": "proof of identity"},
                                     headers=sar_h)).json()
    assert asked["status"] == "awaiting_information" and asked["due_date"] is None and asked["overdue"] is False
    arrived = now - timedelta(days=1)
    back = (await stack.client.post(f"/v1/sars/{old['id']}/information-received",
                                    json={"received_at": iso(arrived)}, headers=sar_h)).json()
    assert back["status"] == "open"
    assert back["due_date"] == deadline.due_date(deadline.receipt_day(arrived)).isoformat()
    assert back["overdue"] is False
