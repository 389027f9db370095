"""The auditor's console (audit search, chain verification, continuity) and the public transparency page."""

from __future__ import annotations

import sqlite3

from tests.fixtures.console import shot, sign_in


def test_auditor_searches_verifies_and_reads_continuity(page, console):
    rid = console.demo_recording("street stop")
    with console.api("sgt-view", "supervisor") as api:  # a view the continuity must show, in that person's name
        assert api.get(f"/v1/recordings/{rid}").status_code == 200
    sign_in(page, "auditor-1")
    page.get_by_role("button", name="Verify the whole chain").click()
    outcome = page.locator("#verify-outcome")
    outcome.wait_for()
    assert "Chain intact" in outcome.inner_text()
    shot(page, "audit-verify")

    page.get_by_label("Actor").fill("sgt-view")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("#audit-events tbody tr")
    assert rows.count() >= 1 and all("sgt-view" in t for t in rows.all_inner_texts())
    assert "recording.viewed" in page.locator("#audit-events").inner_text()
    shot(page, "audit-search")

    page.goto(f"/ui/recordings/{rid}/continuity")
    text = page.locator("#audit-events").inner_text()
    # Docked, hashed and catalogued, then viewed by the supervisor: the whole chain of custody, in order.
    assert "recording.created" in text or "upload.completed" in text, text
    assert "sgt-view" in text
    with console.api("auditor-x", "auditor") as api:
        expected = api.get("/v1/audit", params={"object_id": rid, "limit": 200}).json()["items"]
    assert page.locator("#audit-events tbody tr").count() == len(expected)
    shot(page, "audit-continuity")


def test_verification_reports_an_edited_event(page, console):
    """Tamper with the stored chain behind the server's back; one click must say where it broke."""
    db = console.data_dir / "bwv.db"
    with sqlite3.connect(db) as conn:
        seq, details = conn.execute("SELECT seq, details FROM audit_events ORDER BY seq LIMIT 1 OFFSET 2").fetchone()
        conn.execute("UPDATE audit_events SET details = ? WHERE seq = ?", ('{"edited": true}', seq))
    try:
        sign_in(page, "auditor-1")
        page.get_by_role("button", name="Verify the whole chain").click()
        outcome = page.locator("#verify-outcome")
        outcome.wait_for()
        assert "Chain broken" in outcome.inner_text() and f"event {seq}" in outcome.inner_text()
        shot(page, "audit-verify-broken")
    finally:
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE audit_events SET details = ? WHERE seq = ?", (details, seq))
    with console.api("auditor-x", "auditor") as api:
        assert api.get("/v1/audit/verify").json()["ok"] is True


def test_non_auditors_cannot_open_the_audit(page, console):
    sign_in(page, "pc-101")
    response = page.goto("/ui/audit")
    assert response.status == 403
    assert "auditor" in page.locator("main").inner_text()


def test_transparency_page_is_public_and_counts_match_the_api(page, console):
    page.goto("/transparency")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Transparency")
    stats = console.api("anyone", "officer").get("/v1/stats").json()
    month = stats["months"][-1]["month"] if stats["months"] else None
    if month:
        row = page.locator("#stats-table tbody tr", has=page.locator(f"th:text-is('{month}')"))
        cells = row.locator("td").all_inner_texts()
        assert int(cells[0]) == month_value(stats, month, "uploaded")
    assert page.locator("figure.chart svg rect.bar").count() == 7 * 12
    # No personal data: no officer, device or recording id appears anywhere on the page.
    html = page.content()
    for needle in ("pc-101", "pc-102", "cam-0101", console.demo_recording("street stop")):
        assert needle not in html
    shot(page, "transparency")


def month_value(stats: dict, month: str, key: str) -> int:
    return next(m[key] for m in stats["months"] if m["month"] == month)
