"""Audio-only recordings (issue 17): a 999 call (WAV, MP3, AAC, Opus) probes, plays as it is, is clipped
into a bundle, and goes through a SAR with a mute whose silence is checked by its RMS level."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from service.media import synth
from service.media.audio import rms_dbfs
from service.media.probe import probe
from tests.helpers import assert_problem, iso, sar_body

PROVENANCE = {"system": "Control room ICCS", "site": "Force control room", "exported_by": "sgt-1"}
TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "aac": "audio/aac", "opus": "audio/ogg"}


async def _call(stack, tmp_path, kind: str, start: datetime) -> tuple[bytes, dict]:
    data = synth.make_audio(tmp_path / f"call.{kind}", kind, seconds=4).read_bytes()
    r = await stack.upload(data, parts=1, headers=stack.auth("sgt-1", "supervisor"), source="audio",
                           provenance=PROVENANCE, officer_id="pc-3", device_id=f"iccs-{kind}",
                           filename=f"call.{kind}", content_type=TYPES[kind], recorded_start=iso(start),
                           recorded_end=iso(start + timedelta(seconds=4)))
    assert r.status_code == 201, r.text
    return data, r.json()


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
async def test_each_audio_format_probes_and_plays_as_it_is(stack, tmp_path):
    sup = stack.auth("sgt-1", "supervisor")
    start = datetime.now(UTC) - timedelta(hours=1)
    recs = {kind: await _call(stack, tmp_path, kind, start) for kind in TYPES}
    await stack.drain_jobs()
    for kind, (data, rec) in recs.items():
        got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sup)).json()
        assert got["source"] == "audio" and got["media"]["readable"], (kind, got["media"])
        assert got["media"]["video_codec"] is None and got["media"]["duration_s"] > 3.5
        assert got["working_copy"] is None  # browsers play these masters as they are
        played = await stack.client.get(f"/v1/recordings/{rec['id']}/media", params={"copy": "playable"},
                                         headers=sup)
        assert played.content == data and played.headers["content-type"].startswith("audio/")


async def test_a_999_call_is_clipped_bundled_and_muted_for_a_sar(stack, tmp_path):
    now = datetime.now(UTC)
    data, rec = await _call(stack, tmp_path, "wav", now - timedelta(hours=2))
    await stack.drain_jobs()
    # A clip of it in a CPS bundle (PCM is re-encoded to AAC to fit the exhibit's MP4; nothing is copied
    # from the master but its sound).
    dis = stack.auth("dc-1", "disclosure")
    cid = (await stack.client.post("/v1/cases", json={"urn": "URN-999", "title": "R v Caller"}, headers=dis)).json()["id"]
    r = await stack.client.post(f"/v1/cases/{cid}/items", json={"recording_id": rec["id"], "exhibit_ref": "AU/1",
                                                               "clip_start_s": 1.0, "clip_end_s": 3.0}, headers=dis)
    assert r.status_code == 201, r.text
    bid = (await stack.client.post(f"/v1/cases/{cid}/bundles", headers=dis)).json()["bundle_id"]
    await stack.drain_jobs()
    st = (await stack.client.get(f"/v1/bundles/{bid}", headers=dis)).json()
    assert st["status"] == "ready", st
    z = zipfile.ZipFile(io.BytesIO((await stack.client.get(f"/v1/bundles/{bid}/download", headers=dis)).content))
    clip = tmp_path / "AU-1.mp4"
    clip.write_bytes(z.read("AU-1.mp4"))
    info = probe(clip)
    assert info.readable and info.video_codec is None and info.audio_codec == "aac"
    assert 1.8 <= info.duration_s <= 2.3

    # Through a SAR: boxes are refused (no picture), a mute silences what it covers and nothing else.
    sar_h = stack.auth("sar-1", "sar_handler")
    sar = (await stack.client.post("/v1/sars", json=sar_body(now - timedelta(days=1), now), headers=sar_h)).json()
    item = await stack.client.post(f"/v1/sars/{sar['id']}/items", json={"recording_id": rec["id"]}, headers=sar_h)
    assert item.status_code == 201, item.text
    iid = item.json()["id"]
    boxed = await stack.client.post(f"/v1/sars/{sar['id']}/items/{iid}/redaction",
                                    json={"auto_faces": False, "boxes": [{"start_s": 0, "end_s": 1, "x": 0, "y": 0,
                                                                          "w": 10, "h": 10}]}, headers=sar_h)
    assert_problem(boxed, 422, slug="invalid-redaction")
    r = await stack.client.post(f"/v1/sars/{sar['id']}/items/{iid}/redaction",
                                json={"auto_faces": False, "mute": [{"start_s": 1.0, "end_s": 2.5}]}, headers=sar_h)
    assert r.status_code == 202, r.text
    await stack.drain_jobs()
    red = (await stack.client.get(f"/v1/sars/{sar['id']}", headers=sar_h)).json()["items"][0]["redaction"]
    assert red["status"] == "ready", red
    out = await stack.client.get(f"/v1/sars/{sar['id']}/items/{iid}/redacted", headers=sar_h)
    assert hashlib.sha256(out.content).hexdigest() == red["sha256"]
    path = tmp_path / "redacted.m4a"
    path.write_bytes(out.content)
    # ffmpeg's sine source is about -21 dBFS; the muted span (AAC's edges trimmed) is digital silence.
    assert rms_dbfs(path, 1.2, 2.3) < -60
    assert rms_dbfs(path, 0.2, 0.8) > -30 and rms_dbfs(path, 2.8, 3.6) > -30
    assert red["log"]["method"]["name"] == "mute" and red["log"]["mute"][0]["start_s"] == 1.0
    master = await stack.client.get(f"/v1/recordings/{rec['id']}/media", headers=sar_h)
    assert master.content == data
