"""Footage that no dock brings (issue 17): staff upload CCTV and audio in their own name with a provenance;
the recording shows where it came from; crafted provenance and absurd dates are refused as problems."""

from __future__ import annotations

import hashlib

import pytest

from tests.helpers import assert_problem

PROVENANCE = {"system": "Dahua NVR", "site": "Corner shop, High St", "exported_by": "pc-101",
              "exported_at": "2026-11-30T10:00:00Z", "original_filename": "CH01_20261130.dav"}


async def _staff_upload(stack, data: bytes, headers, **meta):
    return await stack.upload(data, parts=2, headers=headers, **meta)


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
async def test_staff_upload_cctv_with_provenance_in_their_own_name(stack):
    officer = stack.auth("pc-101", "officer")
    r = await _staff_upload(stack, b"cctv-export-" * 3000, officer, source="cctv", provenance=PROVENANCE,
                            officer_id="pc-101", device_id="cctv-corner-shop", content_type="video/x-dav")
    assert r.status_code == 201, r.text
    rec = r.json()
    assert rec["source"] == "cctv" and rec["provenance"]["system"] == "Dahua NVR"
    assert rec["provenance"]["original_filename"] == "CH01_20261130.dav"
    got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=officer)).json()
    assert got["source"] == "cctv" and got["provenance"] == rec["provenance"]
    audit = (await stack.client.get("/v1/audit", params={"object_id": rec["id"]},
                                    headers=stack.auth("aud", "auditor"))).json()
    created = [e for e in audit["items"] if e["action"] == "recording.created"]
    assert created and created[0]["actor"] == "pc-101"  # the person, not a dock
    # A docked recording is body-worn video by default.
    docked = await stack.upload(b"bwv-" * 3000, parts=2)
    assert docked.json()["source"] == "bwv" and docked.json()["provenance"] is None


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
async def test_who_may_upload_what_and_crafted_provenance(stack):
    data = b"x" * 5000
    officer = stack.auth("pc-101", "officer")
    # A dock brings body-worn video only; staff bring CCTV and audio only.
    r = await stack.client.post("/v1/uploads", json=stack.upload_meta(data, source="cctv", provenance=PROVENANCE),
                                headers=stack.dock)
    assert_problem(r, 403)
    r = await stack.client.post("/v1/uploads", json=stack.upload_meta(data), headers=officer)
    assert_problem(r, 403)
    r = await stack.client.post("/v1/uploads", json=stack.upload_meta(data, source="audio",
                                                                      content_type="audio/wav"),
                                headers=stack.auth("aud", "auditor"))
    assert_problem(r, 403, 422)
    for bad in ({"source": "cctv"},  # no provenance
                {"source": "tape", "provenance": PROVENANCE},
                {"source": "cctv", "provenance": {**PROVENANCE, "site": "a\x00b"}},
                {"source": "cctv", "provenance": {**PROVENANCE, "system": "x" * 201}},
                {"source": "cctv", "provenance": {**PROVENANCE, "extra": "field"}}):
        r = await stack.client.post("/v1/uploads", json=stack.upload_meta(data, **bad), headers=officer)
        assert_problem(r, 422)
    # An absurd capture date with a drifting clock is untrusted, never a 500 (it overflowed before).
    for start, dock in (("0001-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
                        ("9999-12-31T23:00:00Z", "0001-01-01T00:00:00Z")):
        meta = stack.upload_meta(data, recorded_start=start, recorded_end=start, device_clock_at_dock=dock)
        r = await stack.client.post("/v1/uploads", json=meta, headers=stack.dock)
        assert r.status_code == 201, r.text
        assert r.json()["time_trust"] == "untrusted"


@pytest.mark.parametrize("stack", ["pg_s3"], indirect=True)
async def test_nul_in_restrict_people_is_a_422_on_postgresql(stack):
    r = await stack.upload(hashlib.sha256(b"nul").digest() * 200, parts=1)
    rec = r.json()
    resp = await stack.client.post(f"/v1/recordings/{rec['id']}/restrict",
                                   json={"people": ["pc-1\x00", "sgt-1"], "reason": "incident"},
                                   headers=stack.auth("sgt-1", "supervisor"))
    assert_problem(resp, 422)
    got = await stack.client.get(f"/v1/recordings/{rec['id']}", headers=stack.auth("sgt-1", "supervisor"))
    assert got.json()["restricted"] is False
