"""Bad SAR input on both stacks: each refusal is a clear 4xx problem+json and changes nothing (every
table row and every stored object compared before and after)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.retention.sweep import sweep
from tests.fixtures.media import cached_clip
from tests.fixtures.stack import iso
from tests.helpers import ADMIN, Unchanged, assert_problem, recording, sar_body


async def test_bad_intake_changes_nothing(stack):
    sar_h = stack.auth("sar-1", "sar_handler")
    now = datetime.now(UTC)
    await recording(stack, "some", start=now - timedelta(hours=3))
    ok = sar_body(now - timedelta(days=1), now)
    bad = [
        (sar_body(now, now - timedelta(days=1)), 422, "validation-error"),  # window ends before it starts
        (sar_body(now - timedelta(days=40), now), 422, "window-too-long"),
        ({**ok, "regime": "gdpr-ish"}, 422, "validation-error"),
        ({**ok, "received_at": iso(now + timedelta(days=2))}, 422, "invalid-received-at"),
        ({**ok, "received_at": "2026-01-31T10:00:00"}, 422, "validation-error"),  # no timezone
        ({**ok, "requester": "   "}, 422, "validation-error"),
        ({k: v for k, v in ok.items() if k != "query"}, 422, "validation-error"),
        ({**ok, "surprise": 1}, 422, "validation-error"),
    ]
    async with Unchanged(stack):
        for body, status, slug in bad:
            assert_problem(await stack.client.post("/v1/sars", json=body, headers=sar_h), status, slug=slug)
        assert_problem(await stack.client.post("/v1/sars", content=b"{nope", headers={
            **sar_h, "content-type": "application/json"}), 400, slug="malformed-json")
        assert_problem(await stack.client.get("/v1/sars/sar_nope", headers=sar_h), 404, slug="sar-not-found")
        assert_problem(await stack.client.get("/v1/sars?status=lost", headers=sar_h), 422)


async def test_bad_items_redactions_and_closing_change_nothing(stack):
    stack.ctx.settings.allow_clock_override = True
    sar_h = stack.auth("sar-1", "sar_handler")
    now = datetime.now(UTC)
    clip = cached_clip(seconds=4, width=320, height=240, gop_s=1.0).read_bytes()
    rec = await recording(stack, "vid", data=clip, start=now - timedelta(hours=2))
    gone = await recording(stack, "gone", officer_id="pc-9", start=now - timedelta(days=40))
    await stack.drain_jobs()
    await sweep(stack.ctx, ADMIN, as_of=now + timedelta(days=8))
    sar = (await stack.client.post("/v1/sars", json=sar_body(now - timedelta(days=1), now),
                                   headers=sar_h)).json()
    gdpr = (await stack.client.post("/v1/sars", json=sar_body(now - timedelta(days=1), now, regime="uk_gdpr"),
                                    headers=sar_h)).json()
    item = (await stack.client.post(f"/v1/sars/{sar['id']}/items",
                                    json={"recording_id": rec["id"], "clip_start_s": 1.0, "clip_end_s": 3.0},
                                    headers=sar_h)).json()
    red = f"/v1/sars/{sar['id']}/items/{item['id']}/redaction"
    box = {"start_s": 1.0, "end_s": 2.0, "x": 0, "y": 0, "w": 50, "h": 50}
    async with Unchanged(stack):
        assert_problem(await stack.client.post(f"/v1/sars/{sar['id']}/items", json={"recording_id": gone["id"]},
                                               headers=sar_h), 410, slug="recording-deleted")
        assert_problem(await stack.client.post(f"/v1/sars/{sar['id']}/items", json={"recording_id": "rec_nope"},
                                               headers=sar_h), 404)
        assert_problem(await stack.client.post(f"/v1/sars/{sar['id']}/items",
                                               json={"recording_id": rec["id"], "clip_start_s": 1, "clip_end_s": 99},
                                               headers=sar_h), 422, slug="invalid-clip-range")
        assert_problem(await stack.client.post(f"/v1/sars/{sar['id']}/items",
                                               json={"recording_id": rec["id"], "clip_start_s": 1.0, "clip_end_s": 3.0},
                                               headers=sar_h), 409, slug="duplicate-item")
        for plan in ({"boxes": [{**box, "x": 300}]},                      # past the right edge of 320 px
                     {"boxes": [{**box, "y": 200, "h": 80}]},             # past the bottom
                     {"boxes": [{**box, "start_s": 0.0}]},                # before the item's clip starts
                     {"mute": [{"start_s": 2.5, "end_s": 3.6}]},          # past the clip's end
                     {"mute": [{"start_s": 2.0, "end_s": 1.5}]}):
            assert_problem(await stack.client.post(red, json=plan, headers=sar_h), 422)
        for plan in ({"boxes": [{**box, "w": 0}]}, {"mute": [{"start_s": -1, "end_s": 1}]}, {"auto_faces": "maybe"}):
            assert_problem(await stack.client.post(red, json=plan, headers=sar_h), 422, slug="validation-error")
        assert_problem(await stack.client.post(f"/v1/sars/{sar['id']}/items/sit_nope/redaction", json={},
                                               headers=sar_h), 404)
        assert_problem(await stack.client.post(f"/v1/sars/{sar['id']}/disclose", json={}, headers=sar_h), 409,
                       slug="unredacted-item")
        assert_problem(await stack.client.get(red.replace("/redaction", "/redacted"), headers=sar_h), 409,
                       slug="redaction-not-ready")
        assert_problem(await stack.client.post(f"/v1/sars/{gdpr['id']}/disclose", json={}, headers=sar_h), 409,
                       slug="sar-no-items")
        assert_problem(await stack.client.post(f"/v1/sars/{sar['id']}/extend", json={"months": 1, "reason": "x"},
                                               headers=sar_h), 409, slug="extension-not-allowed")
        assert_problem(await stack.client.post(f"/v1/sars/{gdpr['id']}/extend", json={"months": 3, "reason": "x"},
                                               headers=sar_h), 422)
        assert_problem(await stack.client.post(f"/v1/sars/{gdpr['id']}/information-received",
                                               json={"received_at": iso(now)}, headers=sar_h), 409)
        assert_problem(await stack.client.post(f"/v1/sars/{sar['id']}/close", json={"outcome": ""},
                                               headers=sar_h), 422)

    closed = await stack.client.post(f"/v1/sars/{gdpr['id']}/close", json={"outcome": "withdrawn"}, headers=sar_h)
    assert closed.status_code == 200
    async with Unchanged(stack):
        assert_problem(await stack.client.post(f"/v1/sars/{gdpr['id']}/close", json={"outcome": "again"},
                                               headers=sar_h), 409, slug="sar-closed")
        assert_problem(await stack.client.post(f"/v1/sars/{gdpr['id']}/items", json={"recording_id": rec["id"]},
                                               headers=sar_h), 409, slug="sar-closed")
        assert_problem(await stack.client.post(f"/v1/sars/{gdpr['id']}/extend", json={"months": 1, "reason": "x"},
                                               headers=sar_h), 409, slug="sar-closed")
