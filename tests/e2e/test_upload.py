"""The staff uploader in Chromium (issue 17): a supervisor uploads a CCTV export (a DAV file) from the
browser; the script hashes it in the page, sends it in parts, and the recording shows its source and
provenance, with the master's hash the one the page computed."""

from __future__ import annotations

import hashlib
import uuid

from service.media import synth
from tests.fixtures.console import shot, sign_in
from tests.fixtures.footage import client


def test_upload_a_cctv_export_from_the_browser(page, console, tmp_path):
    dav = synth.make_dav(tmp_path / f"export-{uuid.uuid4().hex[:6]}.dav", seconds=2)
    sign_in(page, "sgt-1")
    page.goto("/ui/upload")
    page.get_by_label("Source").select_option("cctv")
    page.get_by_label("File").set_input_files(str(dav))
    page.get_by_label("Device or system id").fill(f"cctv-{uuid.uuid4().hex[:8]}")
    page.get_by_label("Recorded from (UTC, as the recorder showed it)").fill("2026-11-30T10:00:00")
    page.get_by_label("to", exact=True).fill("2026-11-30T10:00:02")
    page.get_by_label("System (make, model)").fill("Dahua XVR5104")
    page.get_by_label("Site").fill("Corner shop")
    shot(page, "upload-form")
    page.get_by_role("button", name="Upload").click()
    status = page.get_by_test_id("upload-status")
    status.get_by_role("link").wait_for(timeout=60_000)
    assert "Stored and hashed by the server" in status.inner_text()
    rid = status.get_by_role("link").inner_text().split()[-1]
    with client(console, "sgt-1", "supervisor") as api:
        rec = api.get(f"/v1/recordings/{rid}").json()
    assert rec["sha256"] == hashlib.sha256(dav.read_bytes()).hexdigest()  # the page's hash, the server's too
    assert rec["source"] == "cctv" and rec["provenance"]["system"] == "Dahua XVR5104"
    assert rec["provenance"]["original_filename"] == dav.name and rec["content_type"] == "video/x-dav"
    status.get_by_role("link").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("source-badge").inner_text() == "CCTV"
