"""CPS cases (first part of the disclosure issue): exhibits flag and hold their recordings while the
case is open; do-not-disclose keeps a recording out; bad input changes nothing. Both stacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.retention.sweep import sweep
from tests.helpers import ADMIN, recording


async def test_case_with_three_exhibits_from_two_recordings_protects_them_until_closed(stack):
    stack.ctx.settings.allow_clock_override = True
    dis = stack.auth("dc-1", "disclosure")
    a, b, other = [await recording(stack, tag, repeat=3000, parts=1) for tag in ("a", "b", "other")]
    case = await stack.client.post("/v1/cases", json={"urn": "01AB2345678", "title": "R v Smith"}, headers=dis)
    assert case.status_code == 201, case.text
    cid = case.json()["id"]
    for rid, ref, clip in ((a["id"], "JS/1", None), (a["id"], "JS/2", (1.0, 2.0)), (b["id"], "JS/3", None)):
        body = {"recording_id": rid, "exhibit_ref": ref}
        if clip:
            body |= {"clip_start_s": clip[0], "clip_end_s": clip[1]}
        r = await stack.client.post(f"/v1/cases/{cid}/items", json=body, headers=dis)
        assert r.status_code == 201, r.text
    got = (await stack.client.get(f"/v1/cases/{cid}", headers=dis)).json()
    assert [i["exhibit_ref"] for i in got["items"]] == ["JS/1", "JS/2", "JS/3"]
    sup = stack.auth("s", "supervisor")
    rec_a = (await stack.client.get(f"/v1/recordings/{a['id']}", headers=sup)).json()
    assert rec_a["retention"]["delete_after"] is None
    assert {f["reference"] for f in rec_a["retention"]["flags"]} == {"01AB2345678"}
    assert rec_a["retention"]["holds"][0]["kind"] == "case"

    later = datetime.now(UTC) + timedelta(days=45)
    deleted = {rid for rid, _ in (await sweep(stack.ctx, ADMIN, as_of=later)).items}
    assert other["id"] in deleted and not deleted & {a["id"], b["id"]}

    closed = await stack.client.post(f"/v1/cases/{cid}/close", json={"reason": "trial concluded"}, headers=dis)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    # The hold is released but the evidence flag stays: still kept.
    after = (await stack.client.get(f"/v1/recordings/{a['id']}", headers=sup)).json()
    assert after["retention"]["holds"] == [] and after["retention"]["flags"]
    assert not {rid for rid, _ in (await sweep(stack.ctx, ADMIN, as_of=later)).items} & {a["id"], b["id"]}
    again = await stack.client.post(f"/v1/cases/{cid}/close", json={"reason": "twice"}, headers=dis)
    assert again.status_code == 409


async def test_do_not_disclose_blocks_an_exhibit_until_lifted(stack):
    dis, sup = stack.auth("dc", "disclosure"), stack.auth("s", "supervisor")
    rec = await recording(stack, "covert", repeat=3000, parts=1)
    cid = (await stack.client.post("/v1/cases", json={"urn": "CASE-1", "title": "t"}, headers=dis)).json()["id"]
    m = await stack.client.post(f"/v1/recordings/{rec['id']}/do-not-disclose", json={"reason": "covert source"},
                                headers=sup)
    assert m.status_code == 201
    assert (await stack.client.post(f"/v1/recordings/{rec['id']}/do-not-disclose", json={"reason": "again"},
                                    headers=sup)).status_code == 409
    refused = await stack.client.post(f"/v1/cases/{cid}/items", json={"recording_id": rec["id"], "exhibit_ref": "X/1"},
                                      headers=dis)
    assert refused.status_code == 409 and refused.json()["type"].endswith("/do-not-disclose")
    assert (await stack.client.get(f"/v1/cases/{cid}", headers=dis)).json()["items"] == []
    by_disclosure = await stack.client.request("DELETE", f"/v1/recordings/{rec['id']}/do-not-disclose",
                                               json={"reason": "mine"}, headers=dis)
    assert by_disclosure.status_code == 403
    lifted = await stack.client.request("DELETE", f"/v1/recordings/{rec['id']}/do-not-disclose",
                                        json={"reason": "source protected otherwise"}, headers=sup)
    assert lifted.status_code == 204
    ok = await stack.client.post(f"/v1/cases/{cid}/items", json={"recording_id": rec["id"], "exhibit_ref": "X/1"},
                                 headers=dis)
    assert ok.status_code == 201


@pytest.mark.parametrize("body,status", [
    ({"urn": "lower-case", "title": "t"}, 422),
    ({"urn": "A" * 33, "title": "t"}, 422),
    ({"urn": "AB 12", "title": "t"}, 422),
    ({"urn": "AB12", "title": "   "}, 422),
    ({"urn": "AB12"}, 422),
])
async def test_bad_cases_are_refused(stack, body, status):
    r = await stack.client.post("/v1/cases", json=body, headers=stack.auth("dc", "disclosure"))
    assert r.status_code == status and r.headers["content-type"] == "application/problem+json"


async def test_bad_items_change_nothing(stack):
    dis = stack.auth("dc", "disclosure")
    rec = await recording(stack, "item", repeat=3000, parts=1)
    cid = (await stack.client.post("/v1/cases", json={"urn": "DUP/1", "title": "t"}, headers=dis)).json()["id"]
    assert (await stack.client.post("/v1/cases", json={"urn": "DUP/1", "title": "t2"}, headers=dis)).status_code == 409
    first = await stack.client.post(f"/v1/cases/{cid}/items", json={"recording_id": rec["id"], "exhibit_ref": "A/1"},
                                    headers=dis)
    assert first.status_code == 201
    cases = [
        ({"recording_id": rec["id"], "exhibit_ref": "A/1"}, 409),  # duplicate exhibit reference
        ({"recording_id": rec["id"], "exhibit_ref": "A/2", "clip_start_s": 5, "clip_end_s": 2}, 422),
        ({"recording_id": "rec_nope", "exhibit_ref": "A/3"}, 404),
        ({"recording_id": rec["id"], "exhibit_ref": ""}, 422),
    ]
    for body, status in cases:
        r = await stack.client.post(f"/v1/cases/{cid}/items", json=body, headers=dis)
        assert r.status_code == status, (body, r.text)
    assert len((await stack.client.get(f"/v1/cases/{cid}", headers=dis)).json()["items"]) == 1
    assert (await stack.client.post(f"/v1/cases/{cid}/items", json={"recording_id": rec["id"], "exhibit_ref": "A/9"},
                                    headers=stack.auth("pc", "officer"))).status_code == 403
    assert (await stack.client.get("/v1/cases/case_nope", headers=dis)).status_code == 404
