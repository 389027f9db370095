"""Disclosure in the browser: a case, an exhibit picked from a footage search, a bundle watched to
ready, a share link downloaded without a login, its access log, revocation, and closing the case."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import expect

from tests.fixtures.console import shot, sign_in
from tests.fixtures.footage import dock, new_device


def test_case_exhibit_bundle_share_revoke(page, console):
    urn = f"E2E/{uuid.uuid4().hex[:10].upper()}"
    rec_id = console.demo_recording("street stop")
    api = console.api("e2e-disclosure-check", "disclosure")
    sign_in(page, "disclosure-1")

    # A new case.
    page.goto("/ui/disclosure/cases")
    page.get_by_label("URN").fill(urn)
    page.get_by_label("Title").fill("R v Street")
    page.get_by_role("button", name="Open case").click()
    page.wait_for_url("**/ui/disclosure/cases/case_*")
    case_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#flash")).to_contain_text(f"Case {urn} opened")
    assert api.get(f"/v1/cases/{case_id}").json()["urn"] == urn

    # The exhibit, picked from a search of the footage (loaded into the page by htmx).
    def search_and_add(ref: str) -> None:
        page.get_by_label("Officer").fill("pc-101")
        page.get_by_label("Camera").fill("cam-0101")
        page.get_by_role("button", name="Search footage").click()
        row = page.locator(f'#search-results tr[data-recording="{rec_id}"]')
        row.get_by_label("Exhibit ref").fill(ref)
        row.get_by_label("Clip start (s)").fill("2")
        row.get_by_label("Clip end (s)").fill("6")
        row.get_by_role("button", name="Add as exhibit").click()
        page.wait_for_load_state()

    search_and_add("JS/1")
    expect(page.locator("#flash")).to_contain_text("Exhibit JS/1 added")
    items = api.get(f"/v1/cases/{case_id}").json()["items"]
    assert [(i["exhibit_ref"], i["recording_id"], i["clip_start_s"], i["clip_end_s"]) for i in items] == [
        ("JS/1", rec_id, 2.0, 6.0)]
    exhibits = page.get_by_test_id("exhibits")
    expect(exhibits).to_contain_text("JS/1")
    expect(exhibits).to_contain_text("2.0–6.0 s")
    expect(exhibits).to_contain_text(items[0]["recording_sha256"])
    expect(exhibits.get_by_role("link", name=rec_id)).to_have_attribute("href", f"/ui/recordings/{rec_id}")

    # The same reference again: the API's refusal, in the page; nothing changed.
    search_and_add("JS/1")
    expect(page.locator(".flash.error")).to_contain_text("Exhibit reference JS/1 is already used")
    assert len(api.get(f"/v1/cases/{case_id}").json()["items"]) == 1
    page.get_by_role("button", name="Search footage").click()
    expect(page.locator(f'#search-results tr[data-recording="{rec_id}"]')).to_contain_text("already JS/1")
    shot(page, "disclosure-case")

    # Build the bundle and watch it reach ready.
    page.get_by_role("button", name="Build bundle").click()
    page.wait_for_url("**/ui/disclosure/bundles/bdl_*")
    bundle_id = page.url.rsplit("/", 1)[1]
    shot(page, "disclosure-bundle-progress")
    expect(page.get_by_test_id("bundle-status")).to_have_text("ready", timeout=60_000)
    progress = page.locator("progress#bundle-progress")
    assert progress.get_attribute("value") == progress.get_attribute("max") == "1"
    assert api.get(f"/v1/bundles/{bundle_id}").json()["status"] == "ready"
    expect(page.get_by_role("link", name="Download the bundle (ZIP)")).to_have_attribute(
        "href", f"/ui/disclosure/bundles/{bundle_id}/download")
    shot(page, "disclosure-bundle-ready")

    # A share link: shown once, copied, downloaded without a login.
    page.get_by_label("Recipient").fill("cps-e2e@example.org")
    page.get_by_label("Expires (UTC)").fill((datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Max downloads").fill("2")
    page.get_by_role("button", name="Create share link").click()
    url_box = page.get_by_test_id("share-url")
    expect(url_box).to_be_visible()
    url = url_box.inner_text().strip()
    assert url.startswith(console.base + "/v1/shared/")
    assert page.get_by_role("button", name="Copy link").get_attribute("data-copy") == url
    expect(page.get_by_test_id("new-share")).to_contain_text("will not be shown again")
    shares = api.get(f"/v1/bundles/{bundle_id}/shares").json()["items"]
    assert [(s["recipient"], s["state"], s["max_downloads"]) for s in shares] == [("cps-e2e@example.org", "active", 2)]
    share_id = shares[0]["share_id"]

    got = httpx.get(url, headers={"User-Agent": "e2e-cps-viewer/1"}, timeout=60)
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(got.content)).read("manifest.json"))
    assert [e["exhibit_ref"] for e in manifest["exhibits"]] == ["JS/1"] and manifest["case"]["urn"] == urn

    page.reload()
    expect(page.get_by_test_id("share-url")).to_have_count(0)  # the link is not shown again
    row = page.locator(f'tr[data-share="{share_id}"]')
    expect(row).to_contain_text("1 / 2")
    expect(row).to_contain_text("active")
    log = page.locator(f"#log-{share_id}")
    expect(log).to_contain_text("e2e-cps-viewer/1")
    expect(log).to_contain_text("downloaded")
    expect(log).to_contain_text("127.0.0.1")
    shot(page, "disclosure-shares")

    # Revoked: the link answers 410, and the refused try is in the log.
    row.get_by_role("button", name="Revoke").click()
    page.wait_for_load_state()
    expect(page.locator("#flash")).to_contain_text("revoked")
    expect(page.locator(f'tr[data-share="{share_id}"]')).to_contain_text("revoked")
    assert api.get(f"/v1/shares/{share_id}").json()["state"] == "revoked"
    assert httpx.get(url, headers={"User-Agent": "e2e-cps-viewer/2"}, timeout=60).status_code == 410
    page.reload()
    expect(page.locator(f"#log-{share_id}")).to_contain_text("refused (revoked)")

    page.goto("/ui/disclosure/cases")
    opened = page.locator("table").filter(has=page.get_by_role("link", name=urn))
    expect(opened.locator("tr").filter(has_text=urn)).to_contain_text("R v Street")
    shot(page, "disclosure-cases")

    # Close the case with a reason; the list shows it among the closed ones.
    page.get_by_role("link", name=urn).click()
    page.get_by_label("Reason", exact=True).fill("trial concluded")
    page.get_by_role("button", name="Close case").click()
    page.wait_for_load_state()
    expect(page.get_by_test_id("case-status")).to_have_text("closed")
    assert api.get(f"/v1/cases/{case_id}").json()["status"] == "closed"
    page.goto("/ui/disclosure/cases")
    closed = page.locator("table").filter(has=page.get_by_role("link", name=urn))
    expect(closed.locator("tr").filter(has_text=urn)).to_contain_text("trial concluded")
    assert urn in [c["urn"] for c in api.get("/v1/cases", params={"status": "closed"}).json()["items"]]


def test_a_do_not_disclose_mark_is_refused_in_the_page(page, console):
    """The supervisor's mark keeps footage out of a case: the page shows the API's refusal. (The search
    also works as a plain GET of the case page, without JavaScript.)"""
    device = new_device()
    rec_id = dock(console, "pc-102", device)
    with console.api("sgt-e2e-dnd", "supervisor") as sup:
        assert sup.post(f"/v1/recordings/{rec_id}/do-not-disclose", json={"reason": "covert source"}).status_code == 201
    api = console.api("e2e-disclosure-dnd", "disclosure")
    case_id = api.post("/v1/cases", json={"urn": f"DND/{uuid.uuid4().hex[:8].upper()}", "title": "R v Covert"}).json()["id"]
    sign_in(page, "disclosure-1")
    page.goto(f"/ui/disclosure/cases/{case_id}?search=1&device_id={device}")
    row = page.locator(f'#search-results tr[data-recording="{rec_id}"]')
    expect(page.locator("#search-results tbody tr")).to_have_count(1)
    row.get_by_label("Exhibit ref").fill("CV/1")
    row.get_by_role("button", name="Add as exhibit").click()
    page.wait_for_load_state()
    expect(page.locator(".flash.error")).to_contain_text("marked do-not-disclose (covert source)")
    assert api.get(f"/v1/cases/{case_id}").json()["items"] == []
