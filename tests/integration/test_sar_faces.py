"""Issue 18 through the API, on both stacks: the reported leak (two large faces at 720p, none blurred)
and a redaction asked for before the recording's probe has run, which must wait for the probe
instead of being refused. Blurring is measured on every frame of the disclosed copy (the variance of
the Laplacian inside each ground-truth face box, against the source)."""

from __future__ import annotations

import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from tests.fixtures.faces import cached as cached_scene
from tests.fixtures.faces import two_faces_720p
from tests.fixtures.stack import iso

CACHE = Path(tempfile.gettempdir()) / "bodycam-test-media" / "scenes"


def _gray_frames(path: Path, width: int, height: int) -> np.ndarray:
    out = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "gray",
                          "-"], capture_output=True, check=True, timeout=120).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, height, width)


def _detail(frame: np.ndarray, box) -> float:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    region = frame[int(y0 + h / 6):int(y1 - h / 6), int(x0 + w / 6):int(x1 - w / 6)]
    return float(cv2.Laplacian(region, cv2.CV_64F).var())


async def _sar_with_item(stack, handler, rec_id: str) -> tuple[str, str]:
    now = datetime.now(UTC)
    body = {"requester": "A. Requester", "contact": "a@example.org", "received_at": iso(now),
            "description": "Stopped in the street", "query": {"from": iso(now - timedelta(days=1)), "to": iso(now)}}
    sar = await stack.client.post("/v1/sars", json=body, headers=handler)
    assert sar.status_code == 201, sar.text
    item = await stack.client.post(f"/v1/sars/{sar.json()['id']}/items", json={"recording_id": rec_id},
                                   headers=handler)
    assert item.status_code == 201, item.text
    return sar.json()["id"], item.json()["id"]


async def test_redaction_asked_before_the_probe_waits_for_it_and_blurs_both_faces(stack, tmp_path):
    src, truth = cached_scene("two-faces-720p", two_faces_720p, CACHE)
    handler = stack.auth("sar-9", "sar_handler")
    now = datetime.now(UTC)
    up = await stack.upload(src.read_bytes(), parts=2, officer_id="pc-9",
                            recorded_start=iso(now - timedelta(hours=2)),
                            recorded_end=iso(now - timedelta(hours=2) + timedelta(seconds=3)))
    assert up.status_code == 201, up.text
    rec = up.json()
    # No drain: the probe job is still queued, as when a handler is quicker than the worker.
    seen = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=handler)).json()
    assert not (seen.get("media") or {}).get("width"), seen.get("media")
    sar_id, item_id = await _sar_with_item(stack, handler, rec["id"])
    r = await stack.client.post(f"/v1/sars/{sar_id}/items/{item_id}/redaction", json={"auto_faces": True},
                                headers=handler)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued"
    await stack.drain_jobs()
    item = (await stack.client.get(f"/v1/sars/{sar_id}/items/{item_id}", headers=handler)).json()
    red = item["redaction"]
    assert red["status"] == "ready", red
    assert red["log"]["detector"]["name"] == "centerface" and red["log"]["detector"]["version"]
    assert [t["action"] for t in red["log"]["tracks"]] == ["blurred", "blurred"]
    got = await stack.client.get(f"/v1/sars/{sar_id}/items/{item_id}/redacted", headers=handler)
    assert got.status_code == 200
    out = tmp_path / "redacted.mp4"
    out.write_bytes(got.content)
    before, after = _gray_frames(src, 1280, 720), _gray_frames(out, 1280, 720)
    assert len(before) == len(after) == len(truth) == 75
    leaks = [(i, k) for i, row in enumerate(truth) for k, box in enumerate(row)
             if box is not None and _detail(after[i], box) > 0.15 * _detail(before[i], box)]
    assert leaks == []


async def test_a_box_outside_the_frame_found_by_the_probe_fails_the_job_clearly(stack):
    # Before the probe the frame size is unknown: the plan is accepted, and the job (which probes)
    # refuses it with a message naming the box and the frame; nothing is produced.
    src, _truth = cached_scene("two-faces-720p", two_faces_720p, CACHE)
    handler = stack.auth("sar-9", "sar_handler")
    now = datetime.now(UTC)
    up = await stack.upload(src.read_bytes(), parts=2, officer_id="pc-9",
                            recorded_start=iso(now - timedelta(hours=2)),
                            recorded_end=iso(now - timedelta(hours=2) + timedelta(seconds=3)))
    rec = up.json()
    sar_id, item_id = await _sar_with_item(stack, handler, rec["id"])
    plan = {"auto_faces": False, "boxes": [{"start_s": 0.5, "end_s": 1.0, "x": 1200, "y": 10, "w": 200, "h": 50}]}
    r = await stack.client.post(f"/v1/sars/{sar_id}/items/{item_id}/redaction", json=plan, headers=handler)
    assert r.status_code == 202, r.text
    await stack.drain_jobs()
    red = (await stack.client.get(f"/v1/sars/{sar_id}/items/{item_id}", headers=handler)).json()["redaction"]
    assert red["status"] == "failed" and "box 0" in red["error"] and "1280x720" in red["error"], red
    assert red["sha256"] is None
    # Once probed, the same plan is refused at once (422) and changes nothing.
    again = await stack.client.post(f"/v1/sars/{sar_id}/items/{item_id}/redaction", json=plan, headers=handler)
    assert again.status_code == 422 and again.json()["type"].endswith("/invalid-redaction"), again.text
    assert (await stack.client.get(f"/v1/sars/{sar_id}/items/{item_id}", headers=handler)).json()["redaction"] == red
