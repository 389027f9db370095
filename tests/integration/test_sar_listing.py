"""The SAR reads a console polls, on both stacks: one item's redaction state (without a ``sar.viewed``
each time: it holds none of the requester's data) and the latest disclosure's bundle progress and link
standing (never the link itself)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.fixtures.media import cached_clip
from tests.fixtures.stack import iso


def _sar_body(frm: datetime, to: datetime) -> dict:
    return {"requester": "Sam Listing", "contact": "sam@example.org", "received_at": iso(datetime.now(UTC)),
            "description": "Outside the shop", "query": {"from": iso(frm), "to": iso(to)}}


async def _viewed(stack, sar_id: str) -> int:
    auditor = stack.auth("aud", "auditor")
    events = (await stack.client.get(f"/v1/audit?object_id={sar_id}&limit=500", headers=auditor)).json()["items"]
    return sum(e["action"] == "sar.viewed" for e in events)


async def test_item_and_disclosure_reads(stack):
    sar_h = stack.auth("sar-1", "sar_handler")
    now = datetime.now(UTC)
    clip = cached_clip(seconds=4, width=320, height=240, gop_s=1.0).read_bytes()
    start = now - timedelta(hours=2)
    up = await stack.upload(clip, parts=2, officer_id="pc-4", recorded_start=iso(start),
                            recorded_end=iso(start + timedelta(seconds=4)))
    assert up.status_code == 201, up.text
    rec = up.json()
    await stack.drain_jobs()
    sar = (await stack.client.post("/v1/sars", json=_sar_body(now - timedelta(days=1), now), headers=sar_h)).json()
    sid = sar["id"]
    iid = (await stack.client.post(f"/v1/sars/{sid}/items", json={"recording_id": rec["id"]}, headers=sar_h)).json()["id"]

    # Lists leave the items out but say how many there are.
    listed = (await stack.client.get("/v1/sars?limit=500", headers=sar_h)).json()["items"]
    assert [(r["item_count"], r["items"]) for r in listed if r["id"] == sid] == [(1, [])]
    assert (await stack.client.get(f"/v1/sars/{sid}", headers=sar_h)).json()["item_count"] == 1
    assert sar["item_count"] == 0

    # The item alone: its redaction state, and no audit of personal data however often it is polled.
    before = await _viewed(stack, sid)
    one = await stack.client.get(f"/v1/sars/{sid}/items/{iid}", headers=sar_h)
    assert one.status_code == 200, one.text
    assert one.json()["id"] == iid and one.json()["recording_id"] == rec["id"]
    assert one.json()["redaction"] == {**one.json()["redaction"], "status": "none", "progress": 0.0}
    assert "requester" not in one.text and "Sam Listing" not in one.text
    assert (await stack.client.get(f"/v1/sars/{sid}/items/sit_nope", headers=sar_h)).json()["type"].endswith(
        "/item-not-found")
    assert (await stack.client.get(f"/v1/sars/sar_nope/items/{iid}", headers=sar_h)).status_code == 404
    for who in (stack.auth("sup", "supervisor"), stack.auth("pc-4", "officer"), stack.auth("dc", "disclosure")):
        assert (await stack.client.get(f"/v1/sars/{sid}/items/{iid}", headers=who)).status_code == 403
        assert (await stack.client.get(f"/v1/sars/{sid}/disclosure", headers=who)).status_code == 403
    assert (await stack.client.get(f"/v1/sars/{sid}/items/{iid}", headers=stack.auth("aud", "auditor"))).status_code == 200
    assert await _viewed(stack, sid) == before

    plan = {"auto_faces": False, "boxes": [{"start_s": 0.5, "end_s": 1.5, "x": 4, "y": 6, "w": 50, "h": 40}],
            "mute": []}
    assert (await stack.client.post(f"/v1/sars/{sid}/items/{iid}/redaction", json=plan,
                                    headers=sar_h)).status_code == 202
    # The stored plan states every choice, defaults included (a box follows nothing, no face is kept).
    stored = {**plan, "boxes": [{**b, "follow": False} for b in plan["boxes"]], "keep_tracks": []}
    queued = (await stack.client.get(f"/v1/sars/{sid}/items/{iid}", headers=sar_h)).json()["redaction"]
    assert queued["status"] in ("queued", "running", "ready") and queued["params"] == stored
    await stack.drain_jobs()
    ready = (await stack.client.get(f"/v1/sars/{sid}/items/{iid}", headers=sar_h)).json()["redaction"]
    assert ready["status"] == "ready" and ready["progress"] == 1.0 and ready["log"]["params"] == stored

    # The disclosure: nothing before the first; then the bundle's progress and the link's standing.
    none = await stack.client.get(f"/v1/sars/{sid}/disclosure", headers=sar_h)
    assert none.status_code == 404 and none.json()["type"].endswith("/sar-not-disclosed")
    assert (await stack.client.get("/v1/sars/sar_nope/disclosure", headers=sar_h)).json()["type"].endswith(
        "/sar-not-found")
    d = (await stack.client.post(f"/v1/sars/{sid}/disclose", json={"max_downloads": 1}, headers=sar_h)).json()
    got = (await stack.client.get(f"/v1/sars/{sid}/disclosure", headers=sar_h)).json()
    assert got["sar_id"] == sid and got["bundle"]["bundle_id"] == d["bundle_id"] and got["bundle"]["sar_id"] == sid
    assert got["share"]["share_id"] == d["share_id"] and got["share"]["state"] == "active"
    assert got["share"]["max_downloads"] == 1 and got["share"]["downloads"] == 0
    assert d["url"].rsplit("/", 1)[1] not in str(got)  # the link is shown once, when disclosing
    if stack.mode == "pg_s3":  # arq: nothing runs until a worker drains the queue
        assert got["bundle"]["status"] == "queued"
    await stack.drain_jobs()
    built = (await stack.client.get(f"/v1/sars/{sid}/disclosure", headers=sar_h)).json()
    assert built["bundle"]["status"] == "ready" and built["bundle"]["progress"] == 1.0
    assert (await stack.client.get("/" + d["url"].split("/", 3)[3])).status_code == 200
    used = (await stack.client.get(f"/v1/sars/{sid}/disclosure", headers=stack.auth("aud", "auditor"))).json()
    assert used["share"]["downloads"] == 1 and used["share"]["state"] == "used up"

    again = (await stack.client.post(f"/v1/sars/{sid}/disclose", json={}, headers=sar_h)).json()
    latest = (await stack.client.get(f"/v1/sars/{sid}/disclosure", headers=sar_h)).json()
    assert latest["share"]["share_id"] == again["share_id"] and latest["share"]["state"] == "active"
    assert await _viewed(stack, sid) == before
