"""Nothing kept without a date or a review (issue 15): CPIA case outcomes, reviews, overdue alerts.
Both stacks, through the HTTP API; the sweep and the review check are called as their jobs call them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from service.retention.sweep import sweep
from service.retention.tasks import retention_reviews
from tests.helpers import ADMIN, assert_problem, console_session, csrf, iso, recording

DECIDED = datetime(2025, 10, 28, 10, 0, tzinfo=UTC)
RELEASE = datetime(2026, 5, 16, 9, 0, tzinfo=UTC)
APPEAL = datetime(2027, 12, 2, 17, 0, tzinfo=UTC)


def _at(v: str | None) -> datetime | None:
    return datetime.fromisoformat(v.replace("Z", "+00:00")) if v else None


async def _deleted(stack, as_of: datetime) -> set[str]:
    """What a sweep as of ``as_of`` deleted, or tried to: on S3 footage that was protected keeps its Object
    Lock retention a few real days after release, and storage refuses (retried by later sweeps)."""
    report = await sweep(stack.ctx, ADMIN, as_of=as_of)
    return {rid for rid, _ in report.items} | report.refused_ids


async def test_worked_cpia_example_conviction_appeal_abandoned_release_and_sweep(stack):
    """Convicted 2025-10-28, released from custody 2026-05-16: kept until 2026-05-16 (later than six months);
    a late appeal to 2027-12-02 moves it; the appeal abandoned moves it back; a review then releases it and
    the sweep deletes it min_days_after_upload (7) days later, not before."""
    stack.ctx.settings.allow_clock_override = True
    dis, sup = stack.auth("dc-1", "disclosure"), stack.auth("sup-1", "supervisor")
    rec = await recording(stack, "cpia", repeat=2000, parts=1, start=datetime(2025, 10, 20, 22, 0, tzinfo=UTC))
    other = await recording(stack, "plain", repeat=2000, parts=1, start=datetime(2025, 10, 20, 22, 0, tzinfo=UTC))
    cid = (await stack.client.post("/v1/cases", json={"urn": "01CP0001025", "title": "R v Example"},
                                   headers=dis)).json()["id"]
    assert (await stack.client.post(f"/v1/cases/{cid}/items", json={"recording_id": rec["id"], "exhibit_ref": "EX/1"},
                                    headers=dis)).status_code == 201
    got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sup)).json()["retention"]
    assert got["retain_until"] is None and got["review_at"] is not None  # the open case's hold: a review date
    assert [(k["kind"], k["id"]) for k in got["kept_by"]] == [("case", cid)]
    open_case = await stack.client.post(f"/v1/retention/reviews/{got['kept_by'][0]['review_id']}/decision",
                                        headers=sup, json={"decision": "release", "reason": "not while open"})
    assert_problem(open_case, 409, slug="hold-owned")  # an open case's hold ends with the case (rule 1)

    r = await stack.client.post(f"/v1/cases/{cid}/outcome", headers=dis, json={
        "outcome": "convicted", "decided_at": iso(DECIDED), "custody_release_at": iso(RELEASE),
        "reason": "guilty plea; 8 months, released at half"})
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["status"] == "closed" and case["outcome"]["outcome"] == "convicted"
    assert _at(case["retention"]["retain_until"]) == RELEASE  # later than 2026-04-28 (six months)
    got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sup)).json()["retention"]
    assert _at(got["retain_until"]) == RELEASE and _at(got["review_at"]) == RELEASE and got["holds"] == []

    # A late appeal keeps it until the appeal ends: not due, not releasable, flag not removable.
    r = await stack.client.post(f"/v1/cases/{cid}/outcome", headers=sup, json={
        "outcome": "convicted", "decided_at": iso(DECIDED), "custody_release_at": iso(RELEASE),
        "appeal_until": iso(APPEAL), "reason": "leave to appeal out of time granted"})
    assert r.status_code == 200, r.text
    got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sup)).json()["retention"]
    assert _at(got["retain_until"]) == APPEAL and _at(got["review_at"]) == APPEAL
    review_id = got["kept_by"][0]["review_id"]
    due = (await stack.client.get("/v1/retention/reviews?due=true", headers=sup)).json()["items"]
    assert review_id not in {i["id"] for i in due}
    early = await stack.client.post(f"/v1/retention/reviews/{review_id}/decision", headers=sup,
                                    json={"decision": "release", "reason": "too soon"})
    assert_problem(early, 409, slug="retain-until-not-reached")
    flag_id = got["flags"][0]["id"]
    assert_problem(await stack.client.request("DELETE", f"/v1/flags/{flag_id}", headers=sup,
                                              json={"reason": "too soon"}), 409, slug="retain-until-not-reached")
    swept = await _deleted(stack, APPEAL - timedelta(days=1))
    assert rec["id"] not in swept and other["id"] in swept  # the rest of that night's footage goes

    # The appeal abandoned: back to the custody release, so the review is due now.
    r = await stack.client.post(f"/v1/cases/{cid}/outcome", headers=dis, json={
        "outcome": "convicted", "decided_at": iso(DECIDED), "custody_release_at": iso(RELEASE),
        "reason": "appeal abandoned"})
    assert r.status_code == 200
    got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sup)).json()["retention"]
    assert _at(got["retain_until"]) == RELEASE
    due = (await stack.client.get("/v1/retention/reviews?due=true", headers=sup)).json()["items"]
    item = next(i for i in due if i["recording_id"] == rec["id"])
    assert item["kept_by"] == {"kind": "case", "id": cid} and item["overdue"] is True
    # Overdue: alerted once (counted on each check), never deleted.
    await retention_reviews(stack.ctx)
    await retention_reviews(stack.ctx)
    alerts = (await stack.client.get("/v1/alerts?kind=review_due", headers=sup)).json()["items"]
    mine = [a for a in alerts if a["subject_id"] == item["id"]]
    assert len(mine) == 1 and mine[0]["occurrences"] == 2
    fc = (await stack.client.get("/v1/retention/forecast", headers=sup)).json()["reviews"]
    assert fc["due"] >= 1 and fc["overdue"] >= 1
    now = datetime.now(UTC)
    assert rec["id"] not in await _deleted(stack, now + timedelta(days=400))

    r = await stack.client.post(f"/v1/retention/reviews/{item['id']}/decision", headers=sup,
                                json={"decision": "release", "reason": "sentence served, no appeal"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "released"
    got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sup)).json()["retention"]
    assert got["flags"] == [] and got["kept_by"] == [] and got["review_at"] is None
    assert now + timedelta(days=7) <= _at(got["delete_after"]) <= datetime.now(UTC) + timedelta(days=7)
    alerts = (await stack.client.get("/v1/alerts?kind=review_due", headers=sup)).json()["items"]
    assert [a["acked_by"] for a in alerts if a["subject_id"] == item["id"]] == ["sup-1"]
    assert rec["id"] not in await _deleted(stack, now + timedelta(days=6))
    assert rec["id"] in await _deleted(stack, now + timedelta(days=8))
    gone = await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sup)
    assert gone.status_code == (410 if stack.mode == "embedded" else 200)


async def test_a_flag_comes_up_for_review_retain_sets_the_next_date_and_release_removes_only_it(stack):
    stack.ctx.settings.allow_clock_override = True
    off, sup = stack.auth("pc-1", "officer"), stack.auth("sup-2", "supervisor")
    rec = await recording(stack, "flagged", repeat=2000, parts=1, officer_id="pc-1")
    f = await stack.client.post(f"/v1/recordings/{rec['id']}/flags", headers=off,
                                json={"category": "complaint", "reference": "CMP/7"})
    assert f.status_code == 201, f.text
    h = await stack.client.post("/v1/holds", headers=sup, json={"kind": "legal", "reference": "LH/1",
                                                               "reason": "litigation", "recording_ids": [rec["id"]]})
    assert h.status_code == 201, h.text
    got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sup)).json()["retention"]
    kinds = {k["kind"]: k for k in got["kept_by"]}
    assert set(kinds) == {"flag", "hold"}
    # complaint: review_after_days 365 after flagging; legal hold: 365 days after placing.
    assert abs(_at(kinds["flag"]["review_at"]) - (datetime.now(UTC) + timedelta(days=365))) < timedelta(minutes=5)
    assert got["review_at"] == min(k["review_at"] for k in got["kept_by"])
    rid = kinds["flag"]["review_id"]
    assert (await stack.client.get(f"/v1/retention/reviews/{rid}", headers=off)).status_code == 403
    too_long = await stack.client.post(f"/v1/retention/reviews/{rid}/decision", headers=sup,
                                       json={"decision": "retain", "reason": "r", "retain_days": 5000})
    assert_problem(too_long, 422, slug="retain-days-too-long")
    kept = await stack.client.post(f"/v1/retention/reviews/{rid}/decision", headers=sup,
                                   json={"decision": "retain", "reason": "complaint still open", "retain_days": 30})
    assert kept.status_code == 200 and kept.json()["status"] == "retained"
    again = await stack.client.post(f"/v1/retention/reviews/{rid}/decision", headers=sup,
                                    json={"decision": "release", "reason": "twice"})
    assert_problem(again, 409, slug="review-decided")
    got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sup)).json()["retention"]
    nxt = next(k for k in got["kept_by"] if k["kind"] == "flag")
    assert nxt["review_id"] != rid
    assert abs(_at(nxt["review_at"]) - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)
    hold_review = next(k for k in got["kept_by"] if k["kind"] == "hold")["review_id"]
    r = await stack.client.post(f"/v1/retention/reviews/{hold_review}/decision", headers=sup,
                                json={"decision": "release", "reason": "litigation settled"})
    assert r.status_code == 200, r.text
    got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sup)).json()["retention"]
    assert got["holds"] == [] and [k["kind"] for k in got["kept_by"]] == ["flag"] and got["flags"]
    assert got["delete_after"] is None  # the complaint flag still keeps it
    hold = (await stack.client.get(f"/v1/holds/{h.json()['id']}", headers=sup)).json()
    assert hold["recording_ids"] == [] and hold["active"] is True  # only this recording left the hold
    assert rec["id"] not in await _deleted(stack, datetime.now(UTC) + timedelta(days=3650))


async def test_console_outcome_form_dates_on_the_recording_page_and_deciding_from_the_review_queue(stack):
    dis = await console_session(stack, "dc-web", ["disclosure"])
    sup = await console_session(stack, "sup-web", ["supervisor"])
    rec = await recording(stack, "web", repeat=2000, parts=1)
    cid = (await stack.client.post("/v1/cases", json={"urn": "01WEB0001", "title": "R v Web"},
                                   headers=stack.auth("dc", "disclosure"))).json()["id"]
    assert (await stack.client.post(f"/v1/cases/{cid}/items", json={"recording_id": rec["id"], "exhibit_ref": "W/1"},
                                    headers=stack.auth("dc", "disclosure"))).status_code == 201
    page = await stack.client.get(f"/ui/disclosure/cases/{cid}", headers=dis)
    assert "Record the outcome" in page.text
    r = await stack.client.post(f"/ui/disclosure/cases/{cid}/outcome", headers=dis, data={
        "csrf_token": csrf(page.text), "outcome": "convicted", "decided_at": "2025-10-28",
        "custody_release_at": "2026-05-16", "reason": "guilty"})
    assert r.status_code == 303, r.text
    page = await stack.client.get(f"/ui/disclosure/cases/{cid}", headers=dis)
    assert 'data-testid="case-outcome"' in page.text and "Correct the outcome" in page.text
    detail = await stack.client.get(f"/ui/recordings/{rec['id']}", headers=sup)
    assert 'data-testid="retain-until"' in detail.text and 'data-testid="review-at"' in detail.text
    queue = await stack.client.get("/ui/supervisor/reviews", headers=sup)
    assert rec["id"] in queue.text and "Overdue" in queue.text
    review_id = re.search(r'data-review="(rvw_[0-9a-z]+)"', queue.text).group(1)
    r = await stack.client.post(f"/ui/supervisor/reviews/{review_id}/decision", headers=sup, data={
        "csrf_token": csrf(queue.text), "decision": "retain", "reason": "victim complaint pending",
        "retain_days": "90"})
    assert r.status_code == 303, r.text
    queue = await stack.client.get("/ui/supervisor/reviews", headers=sup)
    assert rec["id"] not in queue.text  # the next review is 90 days away
    assert rec["id"] in (await stack.client.get("/ui/supervisor/reviews?show=all", headers=sup)).text
    # Stats count the reviews that fell due, were decided and went overdue.
    stats = (await stack.client.get("/v1/stats?from=2026-05-01T00:00:00Z")).json()["totals"]
    assert stats["reviews_decided"] >= 1 and stats["reviews_overdue"] >= 1 and stats["reviews_due"] >= 1
