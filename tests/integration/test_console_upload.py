"""The console's uploader (issue 17): staff send a CCTV export from the browser in parts, through the same
ingest services as the API, in their own name; a re-chosen file resumes; no CSRF token, no upload."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import assert_problem, console_session, iso


def _csrf(html: str) -> str:
    m = re.search(r'data-csrf="([0-9a-f]+)"', html)
    assert m, html[:500]
    return m.group(1)


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
async def test_staff_upload_a_cctv_export_from_the_console_and_resume(stack):
    cookie = await console_session(stack, "pc-upload", ["officer"])
    page = await stack.client.get("/ui/upload", headers=cookie)
    assert page.status_code == 200 and 'id="upload-form"' in page.text and "/ui/static/upload.js" in page.text
    headers = {**cookie, "X-CSRF-Token": _csrf(page.text)}
    data = hashlib.sha256(b"cctv").digest() * 40_000  # 1.28 MB
    now = datetime.now(UTC)
    body = {"source": "cctv", "provenance": {"system": "Hikvision DS-7608", "site": "Station Rd",
                                             "exported_by": "pc-upload", "original_filename": "ch1.mp4"},
            "device_id": "cctv-station-rd", "officer_id": "pc-upload", "filename": "ch1.mp4",
            "content_type": "video/mp4", "size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "recorded_start": iso(now - timedelta(hours=3)), "recorded_end": iso(now - timedelta(hours=2)),
            "device_clock_at_dock": iso(now)}
    # Without the token nothing is opened.
    assert_problem(await stack.client.post("/ui/upload/uploads", json=body, headers=cookie), 403)
    r = await stack.client.post("/ui/upload/uploads", json=body, headers=headers)
    assert r.status_code == 201, r.text
    up = r.json()
    half = len(data) // 2
    r = await stack.client.put(f"/ui/upload/uploads/{up['upload_id']}/parts/1", content=data[:half], headers=headers)
    assert r.status_code == 200, r.text
    # The browser was closed; the same file chosen again resumes the same upload with part 1 in.
    again = await stack.client.post("/ui/upload/uploads", json=body, headers=headers)
    assert again.status_code == 200 and again.json()["upload_id"] == up["upload_id"]
    assert again.json()["parts"] == [{"n": 1, "size": half}]
    r = await stack.client.put(f"/ui/upload/uploads/{up['upload_id']}/parts/2", content=data[half:], headers=headers)
    assert r.status_code == 200, r.text
    done = await stack.client.post(f"/ui/upload/uploads/{up['upload_id']}/complete", headers=headers)
    assert done.status_code == 201, done.text
    rid = done.json()["recording_id"]
    assert done.json()["url"] == f"/ui/recordings/{rid}"
    rec = (await stack.client.get(f"/v1/recordings/{rid}", headers=stack.auth("sgt", "supervisor"))).json()
    assert rec["source"] == "cctv" and rec["sha256"] == body["sha256"] and rec["provenance"]["site"] == "Station Rd"
    audit = (await stack.client.get("/v1/audit", params={"object_id": rid}, headers=stack.auth("a", "auditor"))).json()
    assert [e["actor"] for e in audit["items"] if e["action"] == "recording.created"] == ["pc-upload"]
    detail = await stack.client.get(f"/ui/recordings/{rid}", headers=cookie)
    assert 'data-testid="source-badge"' in detail.text and "Hikvision DS-7608" in detail.text
    # A dock's kind of footage is not the console's: body-worn video comes from docks.
    assert_problem(await stack.client.post("/ui/upload/uploads", json={**body, "source": "bwv"}, headers=headers), 403)


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
async def test_who_may_not_upload_from_the_console(stack):
    cookie = await console_session(stack, "aud-upload", ["auditor"])
    r = await stack.client.get("/ui/upload", headers=cookie)
    assert r.status_code == 403
    assert 'href="/ui/upload"' not in (await stack.client.get("/ui/audit", headers=cookie)).text
    anon = await stack.client.get("/ui/upload")
    assert anon.status_code == 303
