"""GET /v1/holds answers a page in a fixed number of statements, however many holds it lists (it ran one
query per hold), and each hold still lists only what the caller may see of it (both stacks)."""

from __future__ import annotations

from sqlalchemy import event

from tests.helpers import recording


def _count_statements(stack):
    seen: list[str] = []

    def on_execute(conn, cursor, statement, *_):
        seen.append(statement)

    event.listen(stack.ctx.engine.sync_engine, "before_cursor_execute", on_execute)
    return seen, lambda: event.remove(stack.ctx.engine.sync_engine, "before_cursor_execute", on_execute)


async def _page_statements(stack, headers) -> tuple[int, dict]:
    seen, stop = _count_statements(stack)
    try:
        r = await stack.client.get("/v1/holds?limit=500", headers=headers)
    finally:
        stop()
    assert r.status_code == 200, r.text
    return len(seen), r.json()


async def test_a_page_of_holds_costs_the_same_statements_for_two_holds_or_twenty(stack):
    sup = stack.auth("sup", "supervisor")
    recs = [await recording(stack, f"hp{i}", officer_id=f"pc-{i % 3}") for i in range(6)]

    async def hold(i: int) -> dict:
        body = {"kind": "legal", "reference": f"LH/{i}", "reason": "claim",
                "recording_ids": [recs[i % 6]["id"], recs[(i + 1) % 6]["id"]]}
        r = await stack.client.post("/v1/holds", json=body, headers=sup)
        assert r.status_code == 201, r.text
        return r.json()

    first = [await hold(i) for i in range(2)]
    few, page = await _page_statements(stack, sup)
    assert [h["id"] for h in page["items"]] == sorted(h["id"] for h in first)
    more = first + [await hold(i) for i in range(2, 20)]
    many, page = await _page_statements(stack, sup)
    # Not one more statement for ten times the holds (one per hold made it 24). The first page may cost one
    # statement more than the second (a one-off lookup the session then has cached), never the other way.
    assert many <= few, f"{few} statements for 2 holds, {many} for 20"
    by_id = {h["id"]: h for h in page["items"]}
    assert set(by_id) == {h["id"] for h in more}
    for h in more:  # the one query answers each hold with exactly its own recordings
        assert by_id[h["id"]]["recording_ids"] == sorted(h["recording_ids"])


async def test_restricted_footage_a_hold_covers_is_listed_only_to_those_it_is_opened_to(stack):
    sup = stack.auth("sup", "supervisor")
    open_rec, secret = await recording(stack, "hv-open"), await recording(stack, "hv-secret")
    r = await stack.client.post(f"/v1/recordings/{secret['id']}/restrict",
                                json={"people": ["sup"], "reason": "incident"}, headers=sup)
    assert r.status_code == 200, r.text
    h = await stack.client.post("/v1/holds", json={"kind": "legal", "reference": "LH/R", "reason": "claim",
                                                   "recording_ids": [open_rec["id"], secret["id"]]}, headers=sup)
    assert h.status_code == 201, h.text
    _, mine = await _page_statements(stack, sup)
    _, theirs = await _page_statements(stack, stack.auth("other-sup", "supervisor"))
    assert [x["recording_ids"] for x in mine["items"] if x["id"] == h.json()["id"]] == [sorted([open_rec["id"], secret["id"]])]
    assert [x["recording_ids"] for x in theirs["items"] if x["id"] == h.json()["id"]] == [[open_rec["id"]]]
