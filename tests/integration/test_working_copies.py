"""CCTV masters browsers cannot play (issue 17): each container ffmpeg writes (and Dahua's DAV, written by
tests' synth helper) is probed, gets an MP4 working copy with its own hash, and keeps its master byte-exact;
the player serves the copy, bundles cut from it and name both hashes; the sweep deletes both."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from service.media import synth
from service.media.probe import probe
from tests.helpers import assert_problem

PROVENANCE = {"system": "Shop NVR", "site": "High St", "exported_by": "pc-101", "original_filename": "export"}
CONTAINERS = {"dav": "video/x-dav", "avi": "video/x-msvideo", "264": "video/h264", "ts": "video/mp2t",
              "wmv": "video/x-ms-wmv", "mkv": "video/x-matroska"}


def _media(tmp: Path, kind: str) -> bytes:
    return synth.make_container(tmp / f"clip.{kind}", kind, seconds=2).read_bytes()


async def _cctv(stack, data: bytes, kind: str, device: str) -> dict:
    r = await stack.upload(data, parts=1, headers=stack.auth("pc-101", "officer"), source="cctv",
                           provenance={**PROVENANCE, "original_filename": f"export.{kind}"}, officer_id="pc-101",
                           device_id=device, filename=f"export.{kind}", content_type=CONTAINERS[kind])
    assert r.status_code == 201, r.text
    return r.json()


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
async def test_every_cctv_container_gets_a_working_copy_and_keeps_its_master(stack, tmp_path):
    sup = stack.auth("sgt-1", "supervisor")
    made = {}
    for kind in CONTAINERS:
        data = _media(tmp_path, kind)
        made[kind] = (data, await _cctv(stack, data, kind, f"cctv-{kind}"))
    await stack.drain_jobs()  # probe, then the working copies
    await stack.drain_jobs()
    for kind, (data, rec) in made.items():
        got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sup)).json()
        assert got["media"]["readable"], (kind, got["media"])
        wc = got["working_copy"]
        assert wc and wc["status"] == "ready" and wc["content_type"] == "video/mp4", (kind, wc)
        master = await stack.client.get(f"/v1/recordings/{rec['id']}/media", headers=sup)
        assert master.status_code == 200 and hashlib.sha256(master.content).hexdigest() == got["sha256"]
        assert master.content == data  # byte-exact
        copy = await stack.client.get(f"/v1/recordings/{rec['id']}/media", params={"copy": "working"},
                                      headers=sup)
        assert copy.status_code == 200 and copy.headers["content-type"] == "video/mp4"
        assert hashlib.sha256(copy.content).hexdigest() == wc["sha256"] and len(copy.content) == wc["size_bytes"]
        path = tmp_path / f"wc-{kind}.mp4"
        path.write_bytes(copy.content)
        info = probe(path)
        assert info.readable and info.video_codec == "h264" and info.duration_s > 1.5, (kind, info)
        playable = await stack.client.get(f"/v1/recordings/{rec['id']}/media",
                                          params={"copy": "playable"}, headers={**sup, "Range": "bytes=0-99"})
        assert playable.status_code == 206 and playable.content == copy.content[:100]
    # A master browsers play has no working copy: the player serves it as it is.
    mp4 = await stack.upload(synth.make_clip(tmp_path / "bwv.mp4", seconds=1).read_bytes(), parts=1)
    await stack.drain_jobs()
    rec = (await stack.client.get(f"/v1/recordings/{mp4.json()['id']}", headers=sup)).json()
    assert rec["working_copy"] is None
    assert_problem(await stack.client.get(f"/v1/recordings/{rec['id']}/media", params={"copy": "working"},
                                          headers=sup), 404, slug="no-working-copy")
    assert (await stack.client.get(f"/v1/recordings/{rec['id']}/media", params={"copy": "playable"},
                                   headers=sup)).status_code == 200
    assert_problem(await stack.client.get(f"/v1/recordings/{rec['id']}/media", params={"copy": "other"},
                                          headers=sup), 422)


async def test_a_dav_exhibit_is_cut_from_its_working_copy_and_the_manifest_names_both(stack, tmp_path):
    data = _media(tmp_path, "dav")
    rec = await _cctv(stack, data, "dav", "cctv-dav")
    # Before the jobs run, asking for the copy is a 409, not the master served as something else.
    assert_problem(await stack.client.get(f"/v1/recordings/{rec['id']}/media", params={"copy": "working"},
                                          headers=stack.auth("sgt-1", "supervisor")), 409,
                   slug="working-copy-not-ready")
    await stack.drain_jobs()
    await stack.drain_jobs()
    dis = stack.auth("dc-1", "disclosure")
    got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=dis)).json()
    assert got["working_copy"]["status"] == "ready" and got["source"] == "cctv"
    cid = (await stack.client.post("/v1/cases", json={"urn": "URN-DAV", "title": "R v Shop"}, headers=dis)).json()["id"]
    r = await stack.client.post(f"/v1/cases/{cid}/items", json={"recording_id": rec["id"], "exhibit_ref": "CC/1"},
                                headers=dis)
    assert r.status_code == 201, r.text
    bid = (await stack.client.post(f"/v1/cases/{cid}/bundles", headers=dis)).json()["bundle_id"]
    await stack.drain_jobs()
    st = (await stack.client.get(f"/v1/bundles/{bid}", headers=dis)).json()
    assert st["status"] == "ready", st
    z = zipfile.ZipFile(io.BytesIO((await stack.client.get(f"/v1/bundles/{bid}/download", headers=dis)).content))
    manifest = json.loads(z.read("manifest.json"))
    row = manifest["exhibits"][0]
    assert row["source_sha256"] == hashlib.sha256(data).hexdigest() == rec["sha256"]
    assert row["cut_from"] == "working_copy" and row["working_copy_sha256"] == got["working_copy"]["sha256"]
    assert row["source"] == "cctv"
    assert row["sha256"] == hashlib.sha256(z.read(row["file"])).hexdigest()
    csv_row = next(csv.DictReader(io.StringIO(z.read("manifest.csv").decode())))
    assert csv_row["cut_from"] == "working_copy" and csv_row["working_copy_sha256"] == row["working_copy_sha256"]
    continuity = z.read("continuity.csv").decode()
    assert "recording.working_copy_made" in continuity and "ffmpeg version" in continuity
    # The master is still byte-exact after all of it.
    master = await stack.client.get(f"/v1/recordings/{rec['id']}/media", headers=dis)
    assert master.content == data


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
async def test_the_sweep_deletes_the_working_copy_with_its_master(stack, tmp_path):
    from datetime import timedelta

    from service.auth.schemas import system_principal
    from service.retention.sweep import sweep
    from service.timeutil import utcnow

    rec = await _cctv(stack, _media(tmp_path, "avi"), "avi", "cctv-avi")
    await stack.drain_jobs()
    await stack.drain_jobs()
    sup = stack.auth("sgt-1", "supervisor")
    got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sup)).json()
    assert got["working_copy"]["status"] == "ready"
    objects = stack.settings.data_dir / "objects"
    assert any(p.is_file() for p in (objects / "working" / rec["id"]).rglob("*"))
    stack.ctx.settings.allow_clock_override = True
    report = await sweep(stack.ctx, system_principal("sweep"), as_of=utcnow() + timedelta(days=400))
    assert report.deleted >= 1
    assert (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sup)).status_code == 410
    assert not any(p.is_file() for p in (objects / "working" / rec["id"]).rglob("*"))
