"""SAR handler pages in the browser over the real server: the queue by due date with overdue requests in
red, logging a request, candidates, the redaction editor (a box drawn with the mouse lands in the API in
recorded-frame pixels), live redaction progress, the review player, disclosure with a link shown once,
and the deadline forms."""

from __future__ import annotations

import hashlib
import io
import re
import time
import zipfile
from datetime import UTC, date, datetime, timedelta

import httpx
from playwright.sync_api import expect

from tests.fixtures.console import shot, sign_in
from tests.fixtures.faces import cached as cached_scene
from tests.fixtures.faces import two_faces_720p
from tests.fixtures.footage import dock

SAR_ID = re.compile(r"/ui/sar/(sar_[0-9a-z]+)")


def _utc_local(dt: datetime) -> str:
    """What a datetime-local field holds; the form reads it as UTC, as its label says."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def _log_request(page, requester: str, received: date, frm: datetime, to: datetime,
                 regime: str = "law_enforcement") -> str:
    page.goto("/ui/sar")
    page.get_by_label("Requester", exact=True).fill(requester)
    page.get_by_label("Contact (address, email or phone)").fill(f"{requester.split()[0].lower()}@example.org")
    page.get_by_label("Received on").fill(received.isoformat())
    page.get_by_label("Regime").select_option(regime)
    page.get_by_label("What the requester describes").fill("Stopped near the station; blue jacket.")
    page.get_by_label("Footage from (UTC)").fill(_utc_local(frm))
    page.get_by_label("Footage to (UTC)").fill(_utc_local(to))
    page.get_by_role("button", name="Log request").click()
    page.wait_for_url(SAR_ID)
    expect(page.locator(".flash")).to_contain_text("logged")
    return SAR_ID.search(page.url).group(1)


def test_queue_is_by_due_date_with_overdue_requests_in_red(page, console):
    sign_in(page, "sar-1")
    now = datetime.now(UTC)
    # Received 45 days ago: the API accepts a past receipt, and the month it had is over.
    late = _log_request(page, "Olive Overdue", (now - timedelta(days=45)).date(), now - timedelta(days=50),
                        now - timedelta(days=46))
    fresh = _log_request(page, "Fred Fresh", now.date(), now - timedelta(days=3), now - timedelta(days=2))
    api = console.api("sar-1", "sar_handler")
    assert api.get(f"/v1/sars/{late}").json()["overdue"] is True
    assert api.get(f"/v1/sars/{fresh}").json()["overdue"] is False

    page.goto("/ui/sar")
    late_row, fresh_row = page.locator(f"#sar-{late}"), page.locator(f"#sar-{fresh}")
    expect(late_row).to_have_class(re.compile(r"\boverdue\b"))
    expect(late_row).to_contain_text("Overdue")
    assert late_row.locator("td").nth(1).evaluate("e => getComputedStyle(e).color") == "rgb(177, 14, 30)"
    expect(late_row).to_contain_text("Olive Overdue")
    expect(fresh_row).not_to_have_class(re.compile(r"\boverdue\b"))
    expect(fresh_row).not_to_contain_text("Overdue")
    # Earliest due first, whatever order the API lists them in.
    ids = page.locator("#sar-queue tbody tr").evaluate_all("rows => rows.map(r => r.id)")
    assert ids.index(f"sar-{late}") < ids.index(f"sar-{fresh}")
    due = {r["id"]: r["due_at"] for r in api.get("/v1/sars?limit=500").json()["items"]}
    dues = [datetime.fromisoformat(due[i[4:]]) if due[i[4:]] else None for i in ids]
    assert dues == sorted(dues, key=lambda d: (d is None, d or now))
    shot(page, "sar-queue")

    page.get_by_label("Overdue only").check()
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**overdue=1**")
    expect(page.locator(f"#sar-{late}")).to_be_visible()
    expect(page.locator(f"#sar-{fresh}")).to_have_count(0)
    assert all("Overdue" in t for t in page.locator("#sar-queue tbody tr").all_inner_texts())


def test_deadline_forms_extend_stop_and_restart_the_clock(page, console):
    sign_in(page, "sar-1")
    now = datetime.now(UTC)
    sid = _log_request(page, "Gina Gdpr", now.date(), now - timedelta(days=3), now - timedelta(days=2), "uk_gdpr")
    api = console.api("sar-1", "sar_handler")
    before = api.get(f"/v1/sars/{sid}").json()["due_date"]
    page.get_by_label("By").select_option("2")
    page.get_by_label("Reason").fill("Many recordings to review")
    page.get_by_role("button", name="Extend").click()
    expect(page.locator(".flash")).to_contain_text("Extended by 2 month(s)")
    after = api.get(f"/v1/sars/{sid}").json()
    assert after["extended_months"] == 2 and after["due_date"] > before
    page.get_by_label("Reason").fill("Still more")
    page.get_by_role("button", name="Extend").click()  # the API allows two months in all: refused, explained
    expect(page.locator(".flash.error")).to_contain_text("at most 2 months")

    page.get_by_label("What is needed").fill("Proof of identity")
    page.get_by_role("button", name="Request information").click()
    expect(page.locator("#sar-clock")).to_contain_text("Stopped")
    expect(page.locator("#sar-due")).to_contain_text("Clock stopped")
    assert api.get(f"/v1/sars/{sid}").json()["status"] == "awaiting_information"
    page.get_by_role("button", name="Record receipt").click()  # received now (the field's default)
    expect(page.locator(".flash")).to_contain_text("the clock restarted")
    restarted = api.get(f"/v1/sars/{sid}").json()
    assert restarted["status"] == "open" and restarted["due_date"] is not None
    expect(page.locator("#sar-clock")).to_have_text(f"Started {restarted['clock_start']}")


def test_redact_review_and_disclose(page, console):
    sign_in(page, "sar-1")
    api = console.api("sar-1", "sar_handler")
    now = datetime.now(UTC)
    sid = _log_request(page, "Rita Requester", now.date(), now - timedelta(days=1), now)
    street = console.demo_recording("street stop")
    candidate = page.locator(f"#cand-{street}")
    expect(candidate).to_be_visible()
    candidate.get_by_role("button", name="Add to request").click()
    expect(page.locator(".flash")).to_contain_text(f"Recording {street} added")
    items = api.get(f"/v1/sars/{sid}").json()["items"]
    assert [i["recording_id"] for i in items] == [street]
    iid = items[0]["id"]
    card = page.locator(f"#item-{iid}")
    expect(card.get_by_test_id("redaction-status")).to_have_text("Not redacted")
    expect(page.locator(f"#cand-{street}")).to_contain_text("Added")

    # The editor: the original, paused at 3 s, a box dragged across the picture.
    card.get_by_role("link", name="Redact").click()
    page.wait_for_url(f"**/ui/sar/{sid}/items/{iid}/redact")
    # Predicates are functions: a string is eval'd in the page, which its CSP (rightly) refuses.
    page.wait_for_function("() => document.getElementById('redact-video').readyState >= 1")
    assert page.evaluate("[document.getElementById('redact-video').videoWidth, "
                         "document.getElementById('redact-video').videoHeight]") == [640, 360]
    for _ in range(3):
        page.get_by_role("button", name="+1 s", exact=True).click()
    page.wait_for_function("() => Math.abs(document.getElementById('redact-video').currentTime - 3) < 0.001")
    area = page.locator("#redact-canvas").bounding_box()
    assert abs(area["width"] / area["height"] - 640 / 360) < 0.01 and area["width"] != 640  # scaled on screen
    page.mouse.move(area["x"] + area["width"] * 0.25, area["y"] + area["height"] * 0.25)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] * 0.4, area["y"] + area["height"] * 0.45, steps=4)
    page.mouse.move(area["x"] + area["width"] * 0.5, area["y"] + area["height"] * 0.6, steps=4)
    page.mouse.up()
    got = {f: page.locator(f"#box-0-{f}").input_value() for f in ("x", "y", "w", "h", "start_s", "end_s")}
    x, y, w, h = (int(got[f]) for f in ("x", "y", "w", "h"))  # whole recorded-frame pixels
    assert abs(x - 160) <= 2 and abs(y - 90) <= 2 and abs(w - 160) <= 3 and abs(h - 126) <= 3, got
    assert x + w <= 640 and y + h <= 360
    assert (float(got["start_s"]), float(got["end_s"])) == (2.0, 4.0)  # the moment shown, ±1 s
    page.get_by_role("button", name="Add mute range").click()
    assert (page.locator("#mute-0-start_s").input_value(), page.locator("#mute-0-end_s").input_value()) == ("2", "4")
    shot(page, "sar-redaction-editor")  # paused at 3 s: the box is live (solid) over the frame
    page.get_by_role("button", name="+1 s", exact=True).click()
    page.locator("#mute-0-end_s").locator("xpath=ancestor::fieldset[1]").get_by_role(
        "button", name="Set end from player").click()
    expect(page.locator("#mute-0-end_s")).to_have_value("4")
    page.get_by_role("button", name="+1 s", exact=True).click()
    page.locator("#mute-0-end_s").locator("xpath=ancestor::fieldset[1]").get_by_role(
        "button", name="Set end from player").click()
    expect(page.locator("#mute-0-end_s")).to_have_value("5")
    expect(page.get_by_label("Auto-detect faces")).to_be_checked()

    page.get_by_role("button", name="Make the redacted copy").click()
    page.wait_for_url(f"**/ui/sar/{sid}#item-{iid}")
    status = page.locator(f"#item-{iid}").get_by_test_id("redaction-status")
    first = status.inner_text()
    page.evaluate("window.stillThisPage = true")
    expect(status).to_have_text("Ready", timeout=120_000)
    if first in ("Queued", "Running"):  # it changed without a reload: the fragment was polled
        assert page.evaluate("window.stillThisPage") is True
    red = api.get(f"/v1/sars/{sid}").json()["items"][0]["redaction"]
    assert red["status"] == "ready" and red["progress"] == 1.0
    assert red["params"] == {"auto_faces": True, "keep_tracks": [], "mute": [{"start_s": 2.0, "end_s": 5.0}],
                             "boxes": [{"start_s": 2.0, "end_s": 4.0, "x": x, "y": y, "w": w, "h": h, "follow": False}]}
    assert red["log"]["output"]["width"] == 640 and red["log"]["requested_by"] == "sar-1"

    # Review: the redacted copy plays through the console (Range works), and its log is shown.
    page.wait_for_function("id => document.getElementById(id).readyState >= 1", arg=f"review-{iid}")
    part = page.request.get(f"/ui/sar/{sid}/items/{iid}/redacted", headers={"Range": "bytes=0-99"})
    assert part.status == 206 and len(part.body()) == 100
    full = page.request.get(f"/ui/sar/{sid}/items/{iid}/redacted")
    assert hashlib.sha256(full.body()).hexdigest() == red["sha256"]
    page.locator(f"#item-{iid} summary", has_text="Redaction log").click()
    expect(page.locator(f"#item-{iid} pre.log")).to_contain_text(red["run"])
    shot(page, "sar-review")

    # Disclose: the link is shown once, with a Copy link button; it answers 409 until the ZIP is built.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_label("Most downloads (optional)").fill("3")
    page.get_by_role("button", name="Disclose", exact=True).click()
    copy = page.locator("#disclosure button[data-copy]")
    expect(copy).to_have_text("Copy link")
    url = copy.get_attribute("data-copy")
    assert url == page.locator("#share-url").inner_text() and "/v1/shared/" in url
    early = httpx.get(url, timeout=30)
    assert early.status_code in (409, 200), early.text
    if early.status_code == 409:
        assert early.json()["type"].endswith("/bundle-not-ready")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == url
    expect(page.get_by_test_id("bundle-status")).to_have_text("Ready", timeout=60_000)
    expect(page.get_by_test_id("share-state")).to_have_text("Active")
    disc = api.get(f"/v1/sars/{sid}/disclosure").json()
    assert disc["bundle"]["status"] == "ready" and disc["share"]["max_downloads"] == 3
    got_zip = httpx.get(url, timeout=60)
    assert got_zip.status_code == 200 and got_zip.headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(got_zip.content))
    video = f"01-{street}.mp4"
    assert {video, "manifest.json"} <= set(z.namelist())
    assert hashlib.sha256(z.read(video)).hexdigest() == red["sha256"]  # the redacted copy, never the original
    shot(page, "sar-request")

    page.reload()  # the link was shown once; afterwards only its standing
    expect(page.locator("button[data-copy]")).to_have_count(0)
    expect(page.locator("#disclosure")).to_contain_text(f"{1 + (early.status_code == 200)} of 3")
    page.get_by_label("Outcome").fill("disclosed")
    page.get_by_role("button", name="Close request").click()
    expect(page.locator(".flash")).to_contain_text("Request closed")
    assert api.get(f"/v1/sars/{sid}").json()["status"] == "closed"



def test_face_tracks_are_drawn_over_the_editor_and_the_review_player(page, console):
    """Issue 18's overlays: the editor draws each face track where the face is at the moment shown
    (blurred until ticked as the requester, then kept), and the review page draws over the redacted copy
    what was kept and what was blurred, from the redaction log and the tracks' boxes."""
    src, _truth = cached_scene("two-faces-720p", two_faces_720p, console.data_dir.parent / "scenes")
    rec = dock(console, "pc-104", data=src.read_bytes())
    api = console.api("sar-1", "sar_handler")
    now = datetime.now(UTC)
    sar = api.post("/v1/sars", json={"requester": "Fay Faces", "contact": "fay@example.org", "received_at": now.isoformat(),
                                     "description": "Two people in view", "query": {
                                         "from": (now - timedelta(hours=1)).isoformat(), "to": now.isoformat()}})
    assert sar.status_code == 201, sar.text
    sid = sar.json()["id"]
    item = api.post(f"/v1/sars/{sid}/items", json={"recording_id": rec})
    assert item.status_code == 201, item.text
    iid = item.json()["id"]
    assert api.post(f"/v1/sars/{sid}/items/{iid}/faces").status_code == 202
    for _ in range(600):
        faces = api.get(f"/v1/sars/{sid}/items/{iid}/faces").json()
        if faces["status"] not in ("queued", "running"):
            break
        time.sleep(0.2)  # polling a job in another process: the API offers no wait
    assert faces["status"] == "ready" and len(faces["tracks"]) == 2, faces
    first, second = faces["tracks"]
    boxes = api.get(f"/v1/sars/{sid}/items/{iid}/faces/{first['id']}/boxes").json()["boxes"]

    sign_in(page, "sar-1")
    page.goto(f"/ui/sar/{sid}/items/{iid}/redact")
    page.wait_for_function("() => document.getElementById('redact-video').readyState >= 1")
    page.evaluate("() => { document.getElementById('redact-video').currentTime = 1.0; }")
    overlay = page.locator("#face-overlay")
    expect(overlay).to_have_attribute("data-drawn", re.compile(r"Face 1: blurred.*Face 2: blurred|Face 2: blurred.*Face 1: blurred"))
    # Ticking the requester's face turns its box from blurred to kept, at once.
    page.locator(f"#keep-{first['id']}").check()
    expect(overlay).to_have_attribute("data-drawn", re.compile(rf"Face {first['number']}: kept"))
    expect(overlay).to_have_attribute("data-drawn", re.compile(rf"Face {second['number']}: blurred"))
    # Drawn where the face is: the canvas has ink at the kept face's box (scaled to the screen).
    at = min(boxes, key=lambda b: abs(b["t"] - 1.0))
    ink = page.evaluate("""([x, y, w, h]) => {
        const c = document.getElementById('face-overlay'), v = document.getElementById('redact-video');
        const sx = c.width / v.videoWidth, sy = c.height / v.videoHeight;
        const d = c.getContext('2d').getImageData(Math.round(x * sx) - 2, Math.round(y * sy) - 2,
                                                  Math.round(w * sx) + 4, Math.round(h * sy) + 4).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; }""",
                        [at["x"], at["y"], at["w"], at["h"]])
    assert ink > 50, ink
    shot(page, "sar-editor-face-tracks")

    page.get_by_role("button", name="Make the redacted copy").click()
    page.wait_for_url(f"**/ui/sar/{sid}#item-{iid}")
    expect(page.locator(f"#item-{iid}").get_by_test_id("redaction-status")).to_have_text("Ready", timeout=180_000)
    red = api.get(f"/v1/sars/{sid}/items/{iid}").json()["redaction"]
    assert red["params"]["keep_tracks"] == [first["id"]]
    review = f"review-{iid}"
    page.wait_for_function("id => document.getElementById(id).readyState >= 1", arg=review)
    page.evaluate("id => { document.getElementById(id).currentTime = 1.0; }", review)
    drawn = page.locator(f"#review-overlay-{iid}")
    expect(drawn).to_have_attribute("data-drawn", re.compile(rf"Face {first['number']}: kept"))
    expect(drawn).to_have_attribute("data-drawn", re.compile(rf"Face {second['number']}: blurred"))
    shot(page, "sar-review-face-tracks")
