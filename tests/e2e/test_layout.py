"""The console on a tablet: each role's pages fit a 768 px wide screen (wide tables scroll inside their
own box, never the page), and pass the same accessibility check as on a laptop."""

from __future__ import annotations

import pytest

from tests.fixtures.console import accessibility_violations, shot, sign_in

PAGES = {
    "pc-101": ["/ui/officer"],
    "sgt-1": ["/ui/supervisor/alerts", "/ui/supervisor/devices", "/ui/supervisor/holds", "/ui/recordings"],
    "disclosure-1": ["/ui/disclosure/cases"],
    "sar-1": ["/ui/sar"],
    "auditor-1": ["/ui/audit"],
}


@pytest.mark.parametrize("user", sorted(PAGES))
def test_pages_fit_a_tablet(browser, console, user):
    context = browser.new_context(base_url=console.base, viewport={"width": 768, "height": 1024}, locale="en-GB",
                                  has_touch=True, is_mobile=False)
    page = context.new_page()
    try:
        sign_in(page, user)
        for path in PAGES[user]:
            page.goto(path)
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} is {overflow} px wider than a tablet"
            assert not accessibility_violations(page), path
        shot(page, f"tablet-{user}")
    finally:
        context.close()


def test_the_recording_page_fits_a_tablet(browser, console):
    context = browser.new_context(base_url=console.base, viewport={"width": 768, "height": 1024}, locale="en-GB")
    page = context.new_page()
    try:
        sign_in(page, "sgt-1")
        page.goto(f"/ui/recordings/{console.demo_recording('street stop')}")
        assert page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
        shot(page, "tablet-recording")
    finally:
        context.close()
