"""``GET /v1/sars?sort=due`` and the console's queue (both stacks): earliest due first, a stopped clock (no due
date) last, ties by id, paged by the database with cursors that survive the jump from dated to undated
requests, and the filters (open, overdue, status) applied before the order."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

from tests.fixtures.stack import iso
from tests.helpers import assert_problem, console_session, sar_body


def _key(r: dict) -> tuple:
    return (r["due_at"] is None, datetime.fromisoformat(r["due_at"]) if r["due_at"] else None, r["id"])


async def _all(stack, headers, query: str, limit: int) -> list[dict]:
    rows, cursor = [], None
    for _ in range(50):
        r = await stack.client.get(f"/v1/sars?sort=due&limit={limit}{query}" + (f"&cursor={cursor}" if cursor else ""),
                                   headers=headers)
        assert r.status_code == 200, r.text
        rows += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return rows
    raise AssertionError("paging did not end")


async def test_the_queue_by_due_date(stack):
    h = stack.auth("sar-1", "sar_handler")
    now = datetime.now(UTC)
    made = {}
    # Received 45 days ago is overdue; two received on one day share a due date (ties go by id).
    for tag, days in (("late", 45), ("soon", 25), ("twin-a", 12), ("twin-b", 12), ("fresh", 2), ("paused", 8),
                      ("closed", 30)):
        body = sar_body(now - timedelta(days=days + 1), now - timedelta(days=days),
                        received_at=iso(now - timedelta(days=days)), requester=f"R {tag}")
        r = await stack.client.post("/v1/sars", json=body, headers=h)
        assert r.status_code == 201, r.text
        made[tag] = r.json()["id"]
    r = await stack.client.post(f"/v1/sars/{made['paused']}/information-request", json={"what": "proof of identity"},
                                headers=h)
    assert r.status_code == 200 and r.json()["due_at"] is None, r.text
    r = await stack.client.post(f"/v1/sars/{made['closed']}/close", json={"outcome": "no footage held"}, headers=h)
    assert r.status_code == 200, r.text

    by_id = (await stack.client.get("/v1/sars?limit=500", headers=h)).json()["items"]
    expected = [r["id"] for r in sorted(by_id, key=_key)]
    for limit in (1, 2, 3, 500):  # every page boundary, including the one between dated and undated requests
        assert [r["id"] for r in await _all(stack, h, "", limit)] == expected
    assert expected[-1] == made["paused"] and expected[0] == made["late"]

    overdue = await _all(stack, h, "&overdue=true", 2)
    assert [r["id"] for r in overdue] == [made["late"]] and all(r["overdue"] for r in overdue)
    open_ = await _all(stack, h, "&status=open", 2)
    assert [r["id"] for r in open_] == [i for i in expected if i not in (made["paused"], made["closed"])]
    assert [r["id"] for r in await _all(stack, h, "&status=closed", 2)] == [made["closed"]]

    # Refusals: an unknown order, and a cursor of the other order (each list's cursors are its own).
    assert_problem(await stack.client.get("/v1/sars?sort=received", headers=h), 400, 422)
    by_id_cursor = (await stack.client.get("/v1/sars?limit=1", headers=h)).json()["next_cursor"]
    assert_problem(await stack.client.get(f"/v1/sars?sort=due&cursor={by_id_cursor}", headers=h), 400, 422,
                   slug="invalid-cursor")
    due_cursor = (await stack.client.get("/v1/sars?sort=due&limit=1", headers=h)).json()["next_cursor"]
    assert_problem(await stack.client.get(f"/v1/sars?cursor={due_cursor}", headers=h), 400, 422,
                   slug="invalid-cursor")
    assert (await stack.client.get("/v1/sars?sort=due", headers=stack.auth("sup", "supervisor"))).status_code == 403

    # The console's queue is the same order, a page at a time: the active requests (not closed).
    cookies = await console_session(stack, "handler-1", ["sar_handler"])
    seen, url = [], "/ui/sar?limit=2"
    while url:
        page = await stack.client.get(url, headers=cookies)
        assert page.status_code == 200, page.text[:500]
        seen += re.findall(r'<tr id="sar-(sar_[0-9a-z]+)"', page.text)
        nxt = re.search(r'<a href="([^"]+)" rel="next">', page.text)
        url = html.unescape(nxt.group(1)) if nxt else None
        assert len(seen) <= len(expected)
    assert seen == [i for i in expected if i != made["closed"]]
    page = await stack.client.get("/ui/sar?status=closed", headers=cookies)
    assert re.findall(r'<tr id="sar-(sar_[0-9a-z]+)"', page.text) == [made["closed"]]
