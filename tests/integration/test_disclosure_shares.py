"""Share links: download without a login, exact limits under concurrent downloads, expiry,
revocation, resumable Range downloads, every access audited. Both stacks. The byte allowance itself is
attacked in test_security_disclosure.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from service.audit.models import AuditEvent
from service.disclosure.models import Share
from tests.helpers import Unchanged, case_with_exhibits


async def _ready_bundle(stack, tag: str):
    dis, cid, _, _ = await case_with_exhibits(stack, tag)
    bid = (await stack.client.post(f"/v1/cases/{cid}/bundles", headers=dis)).json()["bundle_id"]
    await stack.drain_jobs()
    return dis, bid


def _later(**kw) -> str:
    return (datetime.now(UTC) + timedelta(**kw)).isoformat().replace("+00:00", "Z")


async def test_twenty_parallel_downloads_against_five_succeed_exactly_five_times(stack):
    dis, bid = await _ready_bundle(stack, "par")
    r = await stack.client.post(f"/v1/bundles/{bid}/shares",
                                json={"recipient": "cps-north@example.org", "expires_at": _later(days=7),
                                      "max_downloads": 5}, headers=dis)
    assert r.status_code == 201, r.text
    path = "/" + r.json()["url"].split("/", 3)[3]
    results = await asyncio.gather(*[stack.client.get(path, headers={"User-Agent": f"cps-client/{i}"})
                                     for i in range(20)])
    codes = sorted(x.status_code for x in results)
    assert codes.count(200) == 5 and codes.count(410) == 15, codes
    refused = next(x for x in results if x.status_code == 410).json()
    assert refused["reason"] == "used up"
    full = next(x for x in results if x.status_code == 200).content
    # Five whole downloads spent the allowance (5 x the bundle's size): a Range request later in the
    # file is refused too (it used to answer 206 for ever, so the whole ZIP could be fetched again).
    resumed = await stack.client.get(path, headers={"Range": f"bytes={len(full) - 100}-"})
    assert resumed.status_code == 410 and resumed.json()["bytes_left"] == 0, resumed.text
    events = (await stack.client.get(f"/v1/audit?object_id={bid}", headers=stack.auth("a", "auditor"))).json()["items"]
    accessed = [e for e in events if e["action"] == "share.accessed"]
    assert len(accessed) == 5 and all(e["ip"] for e in accessed)
    assert {e["details"]["user_agent"] for e in accessed if e["details"]["range"] is None} <= {
        f"cps-client/{i}" for i in range(20)}
    assert len([e for e in events if e["action"] == "share.refused"]) == 16


async def test_expired_revoked_and_wrong_tokens(stack):
    dis, bid = await _ready_bundle(stack, "dead")
    made = [(await stack.client.post(f"/v1/bundles/{bid}/shares",
                                     json={"recipient": "cps", "expires_at": _later(days=1), "max_downloads": 3},
                                     headers=dis)).json() for _ in range(3)]
    paths = ["/" + m["url"].split("/", 3)[3] for m in made]
    assert (await stack.client.get(paths[0])).status_code == 200
    assert (await stack.client.get("/v1/stats")).json()["totals"]["shared"] == 3
    async with stack.ctx.sessions() as s, s.begin():
        await s.execute(update(Share).where(Share.id == made[1]["share_id"])
                        .values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    expired = await stack.client.get(paths[1])
    assert expired.status_code == 410 and expired.json()["reason"] == "expired"
    assert (await stack.client.delete(f"/v1/shares/{made[2]['share_id']}", headers=dis)).status_code == 204
    revoked = await stack.client.get(paths[2])
    assert revoked.status_code == 410 and revoked.json()["reason"] == "revoked"
    token = paths[0].rsplit("/", 1)[1]
    off_by_one = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert (await stack.client.get(f"/v1/shared/{off_by_one}")).status_code == 404
    fresh = await stack.client.get(paths[0], headers={"Range": "bytes=10-"})  # resume after a counted download
    assert fresh.status_code == 206


async def _share_rows_and_audit_count(stack) -> tuple[list, int]:
    async with stack.ctx.sessions() as s:
        shares = (await s.execute(select(Share.id, Share.downloads, Share.bytes_served, Share.max_downloads,
                                         Share.expires_at, Share.revoked_at).order_by(Share.id))).all()
        events = (await s.execute(select(func.count()).select_from(AuditEvent))).scalar_one()
    return shares, events


async def test_bad_share_requests_change_nothing(stack):
    dis, bid = await _ready_bundle(stack, "bad")
    # A link that has served once, so there are counters (downloads, bytes_served) a refusal could move.
    made = (await stack.client.post(f"/v1/bundles/{bid}/shares", json={
        "recipient": "cps", "expires_at": _later(days=1), "max_downloads": 2}, headers=dis)).json()
    assert (await stack.client.get("/" + made["url"].split("/", 3)[3])).status_code == 200
    cid = (await stack.client.post("/v1/cases", json={"urn": "NOTREADY-1", "title": "t"}, headers=dis)).json()["id"]
    assert cid
    before = await _share_rows_and_audit_count(stack)
    assert before[0] and before[0][0].downloads == 1 and before[0][0].bytes_served > 0, before
    async with Unchanged(stack):  # every row of every table and every stored object
        for body in ({"recipient": "cps", "expires_at": _later(days=1), "max_downloads": 0},
                     {"recipient": "cps", "expires_at": _later(days=-1), "max_downloads": 1},
                     {"recipient": "", "expires_at": _later(days=1), "max_downloads": 1},
                     {"recipient": "cps", "expires_at": "tomorrow", "max_downloads": 1}):
            r = await stack.client.post(f"/v1/bundles/{bid}/shares", json=body, headers=dis)
            assert r.status_code == 422, (body, r.text)
        assert (await stack.client.post("/v1/bundles/bdl_nope/shares", json={
            "recipient": "c", "expires_at": _later(days=1), "max_downloads": 1}, headers=dis)).status_code == 404
        assert (await stack.client.post(f"/v1/bundles/{bid}/shares", json={
            "recipient": "c", "expires_at": _later(days=1), "max_downloads": 1},
            headers=stack.auth("pc", "officer"))).status_code == 403
    # Named, so a failure says which: no new link, the link's state and counters as they were, no event.
    assert await _share_rows_and_audit_count(stack) == before
