"""The officer's console in Chromium: my footage (own only, clock badges, paging, due for deletion), the
recording page's player, and flagging a clip chosen on the player, checked through the JSON API."""

from __future__ import annotations

import uuid

from tests.fixtures.console import shot, sign_in
from tests.fixtures.footage import client, dock

# The flat-battery clip is listed as "flat battery: camera clock read 1970: URL"; demo_recording matches
# up to the first colon, so it is found by the words after it.
FLAT_BATTERY = "camera clock read 1970"


def _row(page, recording_id: str):
    return page.locator(f'tr[data-recording="{recording_id}"]')


def _flags(console, recording_id: str, sub: str = "pc-101", *roles: str) -> list[dict]:
    with client(console, sub, *(roles or ("officer",))) as api:
        r = api.get(f"/v1/recordings/{recording_id}")
        assert r.status_code == 200, r.text
        return r.json()["retention"]["flags"]


def _wait_for_video(page) -> float:
    """The player has loaded the recording's metadata through the ranged media route; its duration."""
    page.wait_for_function("() => { const v = document.getElementById('player'); return v && v.readyState >= 1; }")
    return page.evaluate("() => document.getElementById('player').duration")


def _seek(page, seconds: float) -> float:
    return page.evaluate("""(t) => new Promise((done) => {
        const v = document.getElementById('player');
        v.addEventListener('seeked', () => done(v.currentTime), { once: true });
        v.currentTime = t;
    })""", seconds)


def test_my_footage_lists_only_my_recordings_with_clock_badges(page, console):
    street, arrest, battery = (console.demo_recording(w) for w in ("street stop", "arrest", FLAT_BATTERY))
    fresh = dock(console, "pc-101")  # the demo clips may be flagged or held by other tests by now
    sign_in(page, "pc-101")
    assert page.url.endswith("/ui/officer")
    assert _row(page, street).count() == 1 and _row(page, battery).count() == 1
    assert _row(page, arrest).count() == 0  # pc-102's arrest is not pc-101's to see
    badge = _row(page, battery).locator(".badge", has_text="clock")
    assert badge.inner_text() in ("clock corrected", "clock untrusted")
    assert _row(page, street).locator(".badge", has_text="clock").count() == 0
    assert "deletes 20" in _row(page, fresh).inner_text()  # the retention column says when
    panel = page.get_by_test_id("due-soon")
    assert "Due for deletion within 7 days" in panel.inner_text()
    shot(page, "officer-footage")

    # Paged by the API's cursor: one per page, and the next page holds a different recording.
    page.goto("/ui/officer?limit=1")
    first = page.locator("tr[data-recording]").get_attribute("data-recording")
    page.get_by_role("link", name="Next page").click()
    page.wait_for_load_state()
    second = page.locator("tr[data-recording]").get_attribute("data-recording")
    assert page.locator("tr[data-recording]").count() == 1 and second != first

    # Another officer's recording answers "not found" (never "forbidden", which would confirm it exists).
    r = page.goto(f"/ui/recordings/{arrest}")
    assert r.status == 404 and "No recording" in page.content()


def test_the_player_sets_the_clip_and_the_flag_records_it(page, console):
    street = console.demo_recording("street stop")
    sign_in(page, "pc-101")
    page.goto(f"/ui/recordings/{street}")
    facts = page.get_by_test_id("facts").inner_text()
    assert street in facts and "SHA-256" in facts and "camera clock trusted" in facts
    assert _wait_for_video(page) > 5  # a 10 s clip, its metadata read through Range requests
    at = _seek(page, 2.0)
    assert 1.5 < at < 2.5
    page.get_by_role("button", name="Set start from player").click()
    assert abs(float(page.get_by_label("Start (s)").input_value()) - at) < 0.01
    end = _seek(page, 6.0)
    page.get_by_role("button", name="Set end from player").click()
    assert "set to" in page.locator("#clip-status").inner_text()
    ref = f"E2E/OFF/{uuid.uuid4().hex[:6]}"
    page.get_by_label("Reference (crime or incident number)").fill(ref)
    page.get_by_label("Reason").fill("public order offence during stop")
    shot(page, "recording-player")
    page.get_by_role("button", name="Flag as evidence").click()
    page.wait_for_load_state()
    assert f"reference {ref}" in page.locator("#flash").inner_text()
    flag = next(f for f in _flags(console, street) if f["reference"] == ref)
    assert abs(flag["clip_start_s"] - at) < 0.01 and abs(flag["clip_end_s"] - end) < 0.01
    assert flag["category"] == "evidence" and flag["created_by"] == "pc-101"
    assert page.locator(f'tr[data-flag="{flag["id"]}"]').count() == 1
    assert "not due for deletion" in page.get_by_test_id("retention").inner_text()


def test_a_refused_flag_comes_back_with_the_api_reason(page, console):
    rid = dock(console, "pc-101")
    sign_in(page, "pc-101")
    page.goto(f"/ui/recordings/{rid}")
    page.get_by_label("Reference (crime or incident number)").fill("E2E/OFF/BAD")
    page.get_by_label("Start (s)").fill("4")
    page.get_by_label("End (s)").fill("2")
    page.get_by_role("button", name="Flag as evidence").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/ui/recordings/{rid}")
    assert "clip_end_s must be after clip_start_s" in page.locator("#flash").inner_text()
    assert _flags(console, rid) == []


def test_the_flag_form_works_from_the_keyboard_alone(page, console):
    rid = dock(console, "pc-101")
    sign_in(page, "pc-101")
    page.goto(f"/ui/recordings/{rid}")
    _wait_for_video(page)
    for _ in range(60):  # Tab through the page (links, player controls) until the reference field
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "flag-reference":
            break
    else:
        raise AssertionError("Tab never reached the reference field")
    ref = f"E2E/KEY/{uuid.uuid4().hex[:6]}"
    page.keyboard.type(ref)
    page.keyboard.press("Tab")
    page.keyboard.type("typed without a mouse")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "clip-start"
    page.keyboard.type("1")
    page.keyboard.press("Tab")  # "Set start from player": a real button, in the tab order
    assert page.evaluate("() => document.activeElement.textContent") == "Set start from player"
    page.keyboard.press("Tab")
    page.keyboard.type("3.5")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Flag as evidence"
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/ui/recordings/{rid}")
    page.wait_for_load_state()
    assert f"reference {ref}" in page.locator("#flash").inner_text()
    [flag] = _flags(console, rid)
    assert (flag["reference"], flag["reason"], flag["clip_start_s"], flag["clip_end_s"]) == \
        (ref, "typed without a mouse", 1.0, 3.5)
