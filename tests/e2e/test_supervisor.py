"""The supervisor's console in Chromium: alerts (acknowledged with htmx, and as a plain form without
JavaScript), devices and their drift history, unflag, restrict, do-not-disclose, and holds. Every action
is checked through the JSON API, never by the page alone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.fixtures.console import shot, sign_in
from tests.fixtures.footage import client, dock, new_device


def _sup(console):
    return client(console, "sgt-e2e", "supervisor")


def _sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/ui/login")


def test_the_clock_fault_alert_is_shown_in_words_and_acknowledged(page, console):
    sign_in(page, "sgt-1")
    assert page.url.endswith("/ui/supervisor/alerts")
    row = page.locator('tr[data-kind="clock_fault"][data-subject="cam-0199"]')
    assert row.count() == 1
    text = row.inner_text()
    assert "Clock fault" in text and "1970" in text and "camera cam-0199" in text
    assert row.get_by_role("link", name="camera cam-0199").get_attribute("href") == "/ui/supervisor/devices/cam-0199"
    shot(page, "supervisor-alerts")
    alert_id = row.get_attribute("data-alert")
    row.get_by_label("Note (optional)").fill("camera sent for a new clock battery")
    row.get_by_role("button", name="Acknowledge").click()
    # htmx swapped the row in place (no page load) and said so in the flash area.
    acked = page.locator(f"#alert-{alert_id}")
    acked.get_by_text("acknowledged").first.wait_for()
    assert "by sgt-1" in acked.inner_text()
    assert "acknowledged" in page.locator("#flash").inner_text()
    with _sup(console) as api:
        done = next(a for a in api.get("/v1/alerts", params={"open": "false", "limit": 500}).json()["items"]
                    if a["id"] == alert_id)
        assert done["acked_by"] == "sgt-1" and done["ack_note"] == "camera sent for a new clock battery"
        assert alert_id not in [a["id"] for a in api.get("/v1/alerts", params={"open": "true", "limit": 500}).json()["items"]]
    page.reload()
    assert page.locator(f"#alert-{alert_id}").count() == 0  # gone from the open list...
    page.get_by_role("link", name="Show acknowledged alerts too").click()
    page.wait_for_load_state()
    assert "by sgt-1" in page.locator(f"#alert-{alert_id}").inner_text()  # ...and there with everything
    shot(page, "supervisor-alerts-all")


def test_an_alert_can_be_acknowledged_without_javascript(browser, console):
    upload = dock(console, "pc-101", wrong_sha=True)  # a refused completion raises a hash-mismatch alert
    context = browser.new_context(base_url=console.base, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, "sgt-1")
        row = page.locator(f'tr[data-kind="hash_mismatch"][data-subject="{upload}"]')
        assert "Hash mismatch" in row.inner_text()
        row.get_by_role("button", name="Acknowledge").click()
        page.wait_for_load_state()
        assert page.url.endswith("/ui/supervisor/alerts")
        assert "Hash mismatch alert" in page.locator("#flash").inner_text()
    finally:
        context.close()
    with _sup(console) as api:
        items = api.get("/v1/alerts", params={"open": "false", "kind": "hash_mismatch", "limit": 500}).json()["items"]
        assert any(a["subject_id"] == upload and a["acked_by"] == "sgt-1" for a in items)


def test_devices_show_the_faulty_clock_and_its_drift_history(page, console):
    sign_in(page, "sgt-1")
    page.goto("/ui/supervisor/devices")
    row = page.locator('tr[data-device="cam-0199"]')
    assert "clock fault" in row.inner_text() and "slow" in row.inner_text()
    assert "clock ok" in page.locator('tr[data-device="cam-0101"]').inner_text()
    shot(page, "devices")
    row.get_by_role("link", name="cam-0199", exact=True).click()
    page.wait_for_url("**/ui/supervisor/devices/cam-0199")
    assert "clock fault" in page.get_by_test_id("clock-status").inner_text()
    history = page.get_by_test_id("drift-history")
    assert history.locator("tbody tr").count() >= 1 and "1970" in history.inner_text()
    chart = page.get_by_test_id("drift-chart")
    assert chart.locator("rect.fault").count() >= 1  # the fault drawn as a square, not by colour alone
    shot(page, "device")
    page.get_by_role("link", name="Recordings from cam-0199").click()
    page.wait_for_load_state()
    assert page.locator("tr[data-recording]").count() >= 1
    assert all("cam-0199" in t for t in page.locator("tr[data-recording]").all_inner_texts())


def test_a_device_with_several_docks_charts_its_drift_over_time(page, console):
    cam = new_device()
    dock(console, "pc-101", cam)
    dock(console, "pc-101", cam, clock_offset=timedelta(minutes=-10))  # ten minutes slow: a fault
    sign_in(page, "sgt-1")
    page.goto(f"/ui/supervisor/devices/{cam}")
    assert page.get_by_test_id("drift-history").locator("tbody tr").count() == 2
    chart = page.get_by_test_id("drift-chart")
    assert chart.locator("circle.ok").count() == 1 and chart.locator("rect.fault").count() == 1
    assert chart.locator("polyline.drift").count() == 1
    assert "10 minutes slow" in page.get_by_test_id("drift-history").inner_text()
    shot(page, "device-drift")


def test_footage_filters_by_device(page, console):
    cam = new_device()
    rid = dock(console, "pc-102", cam)
    sign_in(page, "sgt-1")
    page.get_by_role("link", name="Footage").click()
    page.get_by_label("Device").fill(cam)
    today = datetime.now(UTC).date().isoformat()
    page.get_by_label("Captured from").fill(today)
    page.get_by_label("to (inclusive)").fill(today)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    assert [r.get_attribute("data-recording") for r in page.locator("tr[data-recording]").all()] == [rid]
    assert "pc-102" in page.locator(f'tr[data-recording="{rid}"]').inner_text()
    shot(page, "footage")
    page.get_by_label("Flagged").select_option("yes")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("no-recordings").count() == 1


def test_unflag_with_a_reason(page, console):
    rid = dock(console, "pc-101")
    ref = f"E2E/UNF/{uuid.uuid4().hex[:6]}"
    with client(console, "pc-101", "officer") as api:
        r = api.post(f"/v1/recordings/{rid}/flags", json={"category": "evidence", "reference": ref})
        assert r.status_code == 201, r.text
    sign_in(page, "sgt-1")
    page.goto(f"/ui/recordings/{rid}")
    page.get_by_label("Reason for unflagging").fill("no offence disclosed on review")
    page.get_by_role("button", name=f"Unflag {ref}").click()
    page.wait_for_load_state()
    assert f"Flag {ref} removed" in page.locator("#flash").inner_text()
    with _sup(console) as api:
        rec = api.get(f"/v1/recordings/{rid}").json()
        # Back on the default rule: a date to be deleted, unless another test's open query hold (a SAR's
        # window covers footage docked later) keeps it; the shared server runs every e2e file.
        assert rec["retention"]["flags"] == [] and rec["retention"]["category"] == "default"
        assert rec["retention"]["delete_after"] is not None or rec["retention"]["holds"]
    with client(console, "auditor-e2e", "auditor") as api:
        ev = api.get("/v1/audit", params={"object_id": rid, "action": "recording.unflagged"}).json()["items"]
        assert [(e["actor"], e["details"]["reason"]) for e in ev] == [("sgt-1", "no offence disclosed on review")]


def test_restrict_after_an_incident_then_lift_it(page, console):
    rid = dock(console, "pc-101")
    sign_in(page, "sgt-1")
    page.goto(f"/ui/recordings/{rid}")
    page.get_by_label("People (user ids, separated by commas or spaces)").fill("sgt-1, psd-7")
    page.locator("#restrict-reason").fill("death after police contact")
    page.get_by_role("button", name="Restrict access").click()
    page.wait_for_load_state()
    assert "Access restricted to psd-7, sgt-1" in page.locator("#flash").inner_text()
    assert "only psd-7, sgt-1" in page.get_by_test_id("restricted").inner_text()
    page.locator("#dnd-reason").fill("sub judice")
    page.get_by_role("button", name="Mark do not disclose").click()
    page.wait_for_load_state()
    assert "do not disclose: sub judice" in page.get_by_test_id("dnd").inner_text()
    shot(page, "recording-supervisor")
    with client(console, "pc-101", "officer") as api:
        assert api.get(f"/v1/recordings/{rid}").status_code == 404  # the officer no longer sees it
    with _sup(console) as api:
        assert api.get(f"/v1/recordings/{rid}").status_code == 404  # nor a supervisor not named
    with client(console, "sgt-1", "supervisor") as api:
        access = api.get(f"/v1/recordings/{rid}/access").json()
        assert access["restricted"] and access["people"] == ["psd-7", "sgt-1"]
        assert access["do_not_disclose"]["reason"] == "sub judice"

    _sign_out(page)
    sign_in(page, "pc-101")
    assert page.locator(f'tr[data-recording="{rid}"]').count() == 0  # not offered in My footage
    assert page.goto(f"/ui/recordings/{rid}").status == 404
    _sign_out(page)

    sign_in(page, "sgt-1")
    page.goto(f"/ui/recordings/{rid}")
    page.locator("#dnd-lift-reason").fill("trial concluded")
    page.get_by_role("button", name="Lift do-not-disclose").click()
    page.wait_for_load_state()
    page.locator("#unrestrict-reason").fill("investigation closed")
    page.get_by_role("button", name="Lift restriction").click()
    page.wait_for_load_state()
    assert "Restriction lifted" in page.locator("#flash").inner_text()
    with client(console, "pc-101", "officer") as api:
        assert api.get(f"/v1/recordings/{rid}").json()["restricted"] is False
    with client(console, "sgt-1", "supervisor") as api:
        assert api.get(f"/v1/recordings/{rid}/access").json()["do_not_disclose"] is None


def test_place_and_release_holds(page, console):
    cam = new_device()
    by_id, by_query = dock(console, "pc-102", cam), dock(console, "pc-102", cam, clock_offset=timedelta(seconds=1))
    ref, qref = f"LH/{uuid.uuid4().hex[:6]}", f"IOPC/{uuid.uuid4().hex[:6]}"
    sign_in(page, "sgt-1")

    # From the recording page: a hold on this recording.
    page.goto(f"/ui/recordings/{by_id}")
    page.locator("#rec-hold-kind").select_option("legal")
    page.locator("#rec-hold-reference").fill(ref)
    page.locator("#rec-hold-reason").fill("civil claim notified")
    page.get_by_role("button", name="Place hold").click()
    page.wait_for_url(f"**/ui/recordings/{by_id}")
    assert f"hold {ref} placed on 1 recording" in page.locator("#flash").inner_text()
    assert ref in page.get_by_test_id("holds").inner_text()

    # From the holds page: every recording of that camera captured today.
    page.goto("/ui/supervisor/holds")
    page.locator("#hold-kind").select_option("iopc")
    page.locator("#hold-reference").fill(qref)
    page.locator("#hold-reason").fill("referral")
    page.get_by_label("Device").fill(cam)
    today = datetime.now(UTC).date().isoformat()
    page.get_by_label("Captured from").fill(today)
    page.get_by_label("to (inclusive)").fill(today)
    page.get_by_role("button", name="Place hold").click()
    page.wait_for_load_state()
    assert f"hold {qref} placed on 2 recordings" in page.locator("#flash").inner_text()
    with _sup(console) as api:
        active = {h["reference"]: h for h in api.get("/v1/holds", params={"active": "true", "limit": 500}).json()["items"]}
    assert active[ref]["recording_ids"] == [by_id] and active[ref]["kind"] == "legal"
    assert sorted(active[qref]["recording_ids"]) == sorted([by_id, by_query]) and active[qref]["query"]["device_id"] == cam
    shot(page, "holds")

    hold_id = active[ref]["id"]
    page.locator(f"#release-{hold_id}").fill("claim withdrawn")
    page.get_by_role("button", name=f"Release {ref}").click()
    page.wait_for_load_state()
    assert f"Hold {ref} released" in page.locator("#flash").inner_text()
    with _sup(console) as api:
        h = api.get(f"/v1/holds/{hold_id}").json()
        assert h["active"] is False and h["released_by"] == "sgt-1" and h["released_reason"] == "claim withdrawn"


def test_a_subject_access_hold_cannot_be_released_here(page, console):
    cam = new_device()
    dock(console, "pc-101", cam)
    now = datetime.now(UTC)
    with client(console, "sar-e2e", "sar_handler") as api:
        r = api.post("/v1/sars", json={"requester": "A Member", "contact": "a@example.org",
                                       "received_at": now.isoformat(), "description": "stopped in the street",
                                       "query": {"from": (now - timedelta(hours=2)).isoformat(),
                                                 "to": now.isoformat(), "device_id": cam}})
        assert r.status_code == 201, r.text
        hold_id = r.json()["hold_id"]
    sign_in(page, "sgt-1")
    page.goto(f"/ui/supervisor/holds#hold-{hold_id}")
    page.locator(f"#release-{hold_id}").fill("trying anyway")
    page.locator(f'tr[data-hold="{hold_id}"]').get_by_role("button").click()
    page.wait_for_load_state()
    flash = page.locator("#flash .flash.error")
    assert "belongs to the open" in flash.inner_text()
    with _sup(console) as api:
        assert api.get(f"/v1/holds/{hold_id}").json()["active"] is True


def test_a_due_retention_review_is_decided_from_the_queue(page, console):
    """A convicted case's exhibit comes up for review on the CPIA date; the supervisor releases it from the
    review queue's row, and the API shows the flag gone and the default rule's date back."""
    rid = dock(console, "pc-101")
    urn = f"E2E{uuid.uuid4().hex[:8].upper()}"
    with client(console, "dc-e2e", "disclosure") as api:
        cid = api.post("/v1/cases", json={"urn": urn, "title": "R v Review"}).json()["id"]
        assert api.post(f"/v1/cases/{cid}/items", json={"recording_id": rid, "exhibit_ref": "RV/1"}).status_code == 201
        r = api.post(f"/v1/cases/{cid}/outcome", json={"outcome": "convicted", "decided_at": "2025-01-06T10:00:00Z",
                                                       "reason": "fined"})
        assert r.status_code == 200, r.text
    sign_in(page, "sgt-1")
    page.get_by_role("link", name="Reviews").click()
    page.wait_for_url("**/ui/supervisor/reviews")
    row = page.locator("tr[data-review]").filter(has_text=rid)
    assert row.count() == 1 and "Overdue" in row.inner_text() and "case" in row.inner_text()
    assert row.get_by_role("link", name="Play").get_attribute("href").startswith(f"/ui/recordings/{rid}")
    shot(page, "supervisor-reviews")
    row.get_by_label("Reason").fill("fine paid; no appeal")
    row.get_by_role("button", name="Release").click()
    page.wait_for_load_state()
    assert f"Recording {rid} released" in page.locator("#flash").inner_text()
    with _sup(console) as api:
        ret = api.get(f"/v1/recordings/{rid}").json()["retention"]
        assert ret["flags"] == [] and ret["kept_by"] == [] and ret["delete_after"] is not None
        assert ret["retain_until"] is not None  # the outcome's date (past) still floors delete_after
