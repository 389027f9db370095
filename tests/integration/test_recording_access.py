"""GET /v1/recordings/{id}/access (who a restricted recording is limited to, and its do-not-disclose
mark), and the console's recording page for a deleted recording: its tombstone, not an error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.retention.sweep import sweep
from tests.helpers import ADMIN, console_session, recording


async def test_access_shows_the_people_and_the_mark_to_supervisors_only(stack):
    rec = await recording(stack, "access", officer_id="pc-1")
    rid = rec["id"]
    sup = stack.auth("sup-1", "supervisor")
    r = await stack.client.get(f"/v1/recordings/{rid}/access", headers=sup)
    assert r.status_code == 200 and r.json() == {"recording_id": rid, "restricted": False, "people": [],
                                                 "do_not_disclose": None}
    assert (await stack.client.post(f"/v1/recordings/{rid}/do-not-disclose", json={"reason": "sub judice"},
                                    headers=sup)).status_code == 201
    r = await stack.client.post(f"/v1/recordings/{rid}/restrict", json={"people": ["sup-1", "psd-2"],
                                                                        "reason": "serious incident"}, headers=sup)
    assert r.status_code == 200, r.text
    body = (await stack.client.get(f"/v1/recordings/{rid}/access", headers=sup)).json()
    assert body["restricted"] is True and body["people"] == ["psd-2", "sup-1"]
    assert body["do_not_disclose"]["reason"] == "sub judice" and body["do_not_disclose"]["marked_by"] == "sup-1"
    # Auditors see everything; a supervisor not named no longer sees the recording at all (404, as its GET);
    # officers and disclosure staff have no business with the access list (403).
    assert (await stack.client.get(f"/v1/recordings/{rid}/access", headers=stack.auth("aud", "auditor"))).status_code == 200
    other = await stack.client.get(f"/v1/recordings/{rid}/access", headers=stack.auth("sup-2", "supervisor"))
    assert other.status_code == 404
    for who in (stack.auth("pc-1", "officer"), stack.auth("dis", "disclosure")):
        assert (await stack.client.get(f"/v1/recordings/{rid}/access", headers=who)).status_code == 403
    assert (await stack.client.get("/v1/recordings/rec_nope/access", headers=sup)).status_code == 404


async def test_the_recording_page_of_a_deleted_recording_shows_its_tombstone(stack):
    stack.ctx.settings.allow_clock_override = True
    rec = await recording(stack, "gone", officer_id="pc-9")
    report = await sweep(stack.ctx, ADMIN, as_of=datetime.now(UTC) + timedelta(days=40))
    assert rec["id"] in [rid for rid, _ in report.items]
    cookie = await console_session(stack, "sup-web", ["supervisor"])
    page = await stack.client.get(f"/ui/recordings/{rec['id']}", headers=cookie)
    assert page.status_code == 410
    assert 'data-testid="tombstone"' in page.text and rec["sha256"] in page.text and "31 days" in page.text
    assert "<video" not in page.text
