"""E-mail notifications against a real SMTP server (aiosmtpd, with AUTH): who gets what, that a SAR mail
carries ids and dates only, that nothing goes to someone with nothing due, that every mail is audited,
and that a mail server gone down mid-job is retried, alerted, and blocks nothing. Both stacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from service.audit.models import AuditEvent
from service.auth import accounts
from service.db import transaction
from service.notify.tasks import notify
from tests.fixtures.smtp import start_smtp
from tests.helpers import ADMIN, CONTACT, PASSWORD, REQUESTER, iso, recording, sar_body


async def _people(stack) -> None:
    async with transaction(stack.ctx.sessions) as s:
        for name, roles, email in (("pc-due", ["officer"], "pc.due@force.example"),
                                   ("pc-none", ["officer"], "pc.none@force.example"),
                                   ("sup", ["supervisor"], "sup@force.example"),
                                   ("sarh", ["sar_handler"], "sar@force.example"),
                                   ("no-mail", ["supervisor"], None)):
            await accounts.add_user(s, ADMIN, name, roles, PASSWORD, email=email)


def _mail_to(smtp, address):
    return [m for m in smtp.messages if address in m.rcpt]


async def _events(stack, action: str) -> list[AuditEvent]:
    async with stack.ctx.sessions() as s:
        return list((await s.execute(select(AuditEvent).where(AuditEvent.action == action))).scalars())


async def test_digests_reach_the_right_people_with_ids_only_and_are_audited(stack, smtp_server):
    stack.ctx.settings.smtp_url, stack.ctx.settings.mail_from = smtp_server.url, "bodycam@force.example"
    await _people(stack)
    old = datetime.now(UTC) - timedelta(days=60)
    due = await recording(stack, "due", repeat=1500, parts=1, officer_id="pc-due", start=old)
    await recording(stack, "fresh", repeat=1500, parts=1, officer_id="pc-none")  # due in 31 days: not yet
    # A review due for the supervisors: a conviction long ago, no custody.
    dis = stack.auth("dc", "disclosure")
    kept = await recording(stack, "kept", repeat=1500, parts=1, officer_id="pc-none", start=old)
    cid = (await stack.client.post("/v1/cases", json={"urn": "NOTIFY1", "title": "R v Mail"}, headers=dis)).json()["id"]
    assert (await stack.client.post(f"/v1/cases/{cid}/items", json={"recording_id": kept["id"], "exhibit_ref": "M/1"},
                                    headers=dis)).status_code == 201
    assert (await stack.client.post(f"/v1/cases/{cid}/outcome", headers=dis, json={
        "outcome": "convicted", "decided_at": iso(datetime(2025, 1, 6, tzinfo=UTC))})).status_code == 200
    # A subject access request received 28 days ago (due within 7 days), for another time's footage.
    sar = await stack.client.post("/v1/sars", headers=stack.auth("sarh", "sar_handler"), json=sar_body(
        old - timedelta(days=9), old - timedelta(days=8), received_at=iso(datetime.now(UTC) - timedelta(days=28))))
    assert sar.status_code == 201, sar.text

    report = await notify(stack.ctx)
    assert (report.sent, report.failed) == (3, 0), report
    officer = _mail_to(smtp_server, "pc.due@force.example")
    assert len(officer) == 1 and due["id"] in officer[0].body and officer[0].message["From"] == "bodycam@force.example"
    assert "/ui/recordings/" + due["id"] in officer[0].body
    assert _mail_to(smtp_server, "pc.none@force.example") == []  # nothing due for them: nothing sent
    sup = _mail_to(smtp_server, "sup@force.example")
    assert len(sup) == 1 and kept["id"] in sup[0].body and "/ui/supervisor/reviews" in sup[0].body
    sarm = _mail_to(smtp_server, "sar@force.example")
    assert len(sarm) == 1 and sar.json()["id"] in sarm[0].body
    for m in smtp_server.messages:  # no requester's data in any mail, headers included
        raw = m.message.as_string()
        assert REQUESTER not in raw and CONTACT not in raw and "red coat" not in raw
    sent = await _events(stack, "notification.sent")
    assert sorted((e.details["recipient"], e.details["kind"], e.details["count"]) for e in sent) == [
        ("pc.due@force.example", "officer_digest", 1), ("sar@force.example", "sars_due", 1),
        ("sup@force.example", "reviews_due", 1)]
    assert {e.actor for e in sent} == {"system:notify"}


async def test_a_mail_server_that_goes_down_is_retried_alerted_and_blocks_nothing(stack):
    smtp = start_smtp(auth=False)
    settings = stack.ctx.settings
    settings.smtp_url, settings.mail_from = smtp.url, "bodycam@force.example"
    settings.smtp_retries, settings.smtp_retry_delay_s, settings.smtp_timeout_s = 1, 0, 5
    await _people(stack)
    await recording(stack, "due", repeat=1500, parts=1, officer_id="pc-due",
                    start=datetime.now(UTC) - timedelta(days=60))
    smtp.stop()
    report = await notify(stack.ctx, ["officer_digest"])
    assert (report.composed, report.sent, report.failed) == (1, 0, 1)
    alerts = (await stack.client.get("/v1/alerts?kind=notification_failed",
                                     headers=stack.auth("s", "supervisor"))).json()["items"]
    assert len(alerts) == 1 and "pc.due@force.example" in alerts[0]["message"]
    failed = await _events(stack, "notification.failed")
    assert [(e.details["recipient"], e.details["attempts"]) for e in failed] == [("pc.due@force.example", 2)]
    assert await _events(stack, "notification.sent") == []
    # Docks and requests carry on while the mail server is down.
    await recording(stack, "meanwhile", repeat=1500, parts=1)
    assert (await stack.client.get("/v1/retention/reviews", headers=stack.auth("s", "supervisor"))).status_code == 200
