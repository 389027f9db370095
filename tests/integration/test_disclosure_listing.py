"""The disclosure lists the console reads: cases by status, a case's bundles, a bundle's shares with
their state, and a share's access log taken from the audit. Both stacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from service.disclosure.models import Share
from tests.fixtures.media import cached_clip


def _later(**kw) -> str:
    return (datetime.now(UTC) + timedelta(**kw)).isoformat().replace("+00:00", "Z")


async def _pages(stack, path: str, headers, limit: int) -> list[dict]:
    items, cursor = [], None
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        r = await stack.client.get(path, params=params, headers=headers)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


async def _case_with_one_exhibit(stack, urn: str):
    dis = stack.auth("dc-1", "disclosure")
    rec = (await stack.upload(cached_clip(seconds=4, gop_s=1.0).read_bytes(), parts=1, device_id=f"cam-{urn}")).json()
    await stack.drain_jobs()
    cid = (await stack.client.post("/v1/cases", json={"urn": urn, "title": "R v Brown"}, headers=dis)).json()["id"]
    r = await stack.client.post(f"/v1/cases/{cid}/items", json={"recording_id": rec["id"], "exhibit_ref": "AB/1"},
                                headers=dis)
    assert r.status_code == 201, r.text
    return dis, cid


async def test_cases_list_by_status_newest_first_with_exhibit_counts(stack):
    dis = stack.auth("dc-1", "disclosure")
    rec = (await stack.upload(b"listed-" * 3000, parts=1)).json()
    made = []
    for n in range(4):
        r = await stack.client.post("/v1/cases", json={"urn": f"LIST-{n}", "title": f"R v Case {n}"}, headers=dis)
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
    for ref in ("A/1", "A/2"):
        added = await stack.client.post(f"/v1/cases/{made[1]}/items", json={"recording_id": rec["id"],
                                        "exhibit_ref": ref}, headers=dis)
        assert added.status_code == 201 and added.json()["recording_sha256"] == rec["sha256"]
    shown = (await stack.client.get(f"/v1/cases/{made[1]}", headers=dis)).json()["items"]
    assert [(i["exhibit_ref"], i["recording_sha256"]) for i in shown] == [("A/1", rec["sha256"]), ("A/2", rec["sha256"])]
    assert (await stack.client.post(f"/v1/cases/{made[2]}/close", json={"reason": "no further action"},
                                    headers=dis)).status_code == 200

    everything = await _pages(stack, "/v1/cases", dis, limit=1)
    assert [c["id"] for c in everything] == made[::-1]  # newest first, each once across the pages
    opened = (await stack.client.get("/v1/cases?status=open", headers=dis)).json()
    assert [c["id"] for c in opened["items"]] == [made[3], made[1], made[0]] and opened["next_cursor"] is None
    closed = (await stack.client.get("/v1/cases", params={"status": "closed"}, headers=dis)).json()["items"]
    assert [(c["id"], c["status"], c["close_reason"], c["closed_by"]) for c in closed] == [
        (made[2], "closed", "no further action", "dc-1")]
    counts = {c["id"]: c["exhibits"] for c in everything}
    assert counts == {made[0]: 0, made[1]: 2, made[2]: 0, made[3]: 0}
    assert "items" not in everything[0]

    assert (await stack.client.get("/v1/cases?status=pending", headers=dis)).status_code == 422
    assert (await stack.client.get("/v1/cases?cursor=not-ours", headers=dis)).status_code == 422
    assert (await stack.client.get("/v1/cases", headers=stack.auth("pc", "officer"))).status_code == 403
    assert (await stack.client.get("/v1/cases", headers=stack.auth("adm", "admin"))).status_code == 200
    assert (await stack.client.get("/v1/cases")).status_code == 401


async def test_a_cases_bundles_newest_first(stack):
    dis, cid = await _case_with_one_exhibit(stack, "BDL-LIST")
    first = (await stack.client.post(f"/v1/cases/{cid}/bundles", headers=dis)).json()["bundle_id"]
    await stack.drain_jobs()
    second = (await stack.client.post(f"/v1/cases/{cid}/bundles", headers=dis)).json()["bundle_id"]
    listed = await _pages(stack, f"/v1/cases/{cid}/bundles", dis, limit=1)
    assert [b["bundle_id"] for b in listed] == [second, first]
    assert listed[1]["status"] == "ready" and listed[1]["items_done"] == listed[1]["items_total"] == 1
    assert listed[0]["status"] in ("queued", "building", "ready") and listed[0]["case_id"] == cid
    other = (await stack.client.post("/v1/cases", json={"urn": "BDL-NONE", "title": "t"}, headers=dis)).json()["id"]
    assert (await stack.client.get(f"/v1/cases/{other}/bundles", headers=dis)).json() == {"items": [],
                                                                                          "next_cursor": None}
    assert (await stack.client.get("/v1/cases/case_nope/bundles", headers=dis)).status_code == 404
    assert (await stack.client.get(f"/v1/cases/{cid}/bundles", headers=stack.auth("s", "supervisor"))).status_code == 403
    await stack.drain_jobs()


async def test_shares_list_their_state_and_each_access_from_the_audit(stack):
    dis, cid = await _case_with_one_exhibit(stack, "SHR-LIST")
    bid = (await stack.client.post(f"/v1/cases/{cid}/bundles", headers=dis)).json()["bundle_id"]
    await stack.drain_jobs()

    async def share(recipient: str, max_downloads: int) -> tuple[str, str]:
        r = await stack.client.post(f"/v1/bundles/{bid}/shares", json={
            "recipient": recipient, "expires_at": _later(days=7), "max_downloads": max_downloads}, headers=dis)
        assert r.status_code == 201, r.text
        return r.json()["share_id"], "/" + r.json()["url"].split("/", 3)[3]

    (used, used_path), (revoked, revoked_path), (expired, _), (fresh, _) = [
        await share(f"cps-{n}@example.org", m) for n, m in ((1, 1), (2, 3), (3, 3), (4, 3))]
    # A download cut after 100 bytes and resumed: the one allowed download, exactly the bundle's size.
    # (Resuming after a whole download used to be allowed too, for ever: now that is beyond the allowance.)
    first = await stack.client.get(used_path, headers={"User-Agent": "cps-viewer/1", "Range": "bytes=0-99"})
    assert first.status_code == 206
    resumed = await stack.client.get(used_path, headers={"User-Agent": "cps-viewer/1", "Range": "bytes=100-"})
    assert resumed.status_code == 206
    assert (await stack.client.get(used_path, headers={"User-Agent": "cps-viewer/2"})).status_code == 410
    assert (await stack.client.delete(f"/v1/shares/{revoked}", headers=dis)).status_code == 204
    assert (await stack.client.get(revoked_path, headers={"User-Agent": "late/1"})).status_code == 410
    async with stack.ctx.sessions() as s, s.begin():
        await s.execute(update(Share).where(Share.id == expired)
                        .values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))

    listed = await _pages(stack, f"/v1/bundles/{bid}/shares", dis, limit=3)
    assert [x["share_id"] for x in listed] == [fresh, expired, revoked, used]
    by_id = {x["share_id"]: x for x in listed}
    assert {k: v["state"] for k, v in by_id.items()} == {fresh: "active", expired: "expired", revoked: "revoked",
                                                         used: "used up"}
    assert (by_id[used]["downloads"], by_id[used]["max_downloads"]) == (1, 1)
    assert by_id[revoked]["revoked_by"] == "dc-1" and by_id[revoked]["revoked_at"]
    assert all("url" not in x and "token" not in str(x) for x in listed)

    detail = (await stack.client.get(f"/v1/shares/{used}", headers=dis)).json()
    assert detail["state"] == "used up" and detail["recipient"] == "cps-1@example.org"
    log = [(a["outcome"], a["reason"], a["user_agent"]) for a in detail["accesses"]]
    assert log == [("refused", "used up", "cps-viewer/2"), ("resumed", None, "cps-viewer/1"),
                   ("downloaded", None, "cps-viewer/1")]  # newest first
    assert detail["accesses_total"] == 3
    assert all(a["ip"] and a["at"] for a in detail["accesses"])
    assert detail["accesses"][1]["range"][0] == 100
    gone = (await stack.client.get(f"/v1/shares/{revoked}", headers=dis)).json()
    assert [(a["outcome"], a["reason"], a["user_agent"]) for a in gone["accesses"]] == [("refused", "revoked", "late/1")]
    untouched = (await stack.client.get(f"/v1/shares/{fresh}", headers=dis)).json()
    assert untouched["accesses"] == [] and untouched["accesses_total"] == 0 and untouched["downloads"] == 0

    assert (await stack.client.get("/v1/shares/shr_nope", headers=dis)).status_code == 404
    assert (await stack.client.get("/v1/bundles/bdl_nope/shares", headers=dis)).status_code == 404
    officer = stack.auth("pc", "officer")
    assert (await stack.client.get(f"/v1/shares/{used}", headers=officer)).status_code == 403
    assert (await stack.client.get(f"/v1/bundles/{bid}/shares", headers=officer)).status_code == 403
    # Reading the lists changed nothing: the counts are as the downloads left them.
    again = (await stack.client.get(f"/v1/shares/{used}", headers=dis)).json()
    assert again["downloads"] == 1 and again["accesses_total"] == 3
