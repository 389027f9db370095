"""Notification jobs: the officers' weekly digest, the daily lists for supervisors and SAR handlers.
The edge: one transaction composes, each mail is sent outside any transaction (retried with a back-off),
and its audit event (or its failure's alert) commits on its own."""

from __future__ import annotations

import asyncio

import structlog

from service.auth.schemas import Principal, system_principal
from service.context import Context
from service.db import transaction
from service.jobs import JobName
from service.notify import mailer, service
from service.notify.models import DAILY, WEEKLY, Mail, MailKind
from service.notify.schemas import NotifyReport
from service.timeutil import utcnow

log = structlog.get_logger(__name__)


async def deliver(ctx: Context, actor: Principal, mails: list[Mail], report: NotifyReport) -> None:
    tries = ctx.settings.smtp_retries + 1
    for mail in mails:
        error = ""
        for attempt in range(1, tries + 1):
            try:
                await mailer.send(ctx.settings, mail)
            except Exception as e:  # any failure of one mail: retry, then alert; the others still go
                error = f"{type(e).__name__}: {e}"
                log.warning("notification_send_failed", kind=mail.kind, to=mail.to, attempt=attempt, error=error)
                if attempt < tries:
                    await asyncio.sleep(ctx.settings.smtp_retry_delay_s * attempt)
                continue
            async with transaction(ctx.sessions) as s:
                await service.record_sent(s, actor, mail, attempt)
            report.sent += 1
            break
        else:
            async with transaction(ctx.sessions) as s:
                await service.record_failed(s, actor, mail, tries, error)
            report.failed += 1


async def notify(ctx: Context, kinds: list[str] | None = None, dry_run: bool = False,
                 actor: Principal | None = None) -> NotifyReport:
    actor = actor or system_principal("notify")
    wanted = tuple(MailKind(k) for k in (kinds or [*WEEKLY, *DAILY]))
    async with ctx.sessions() as s:
        mails = await service.compose(s, ctx, wanted, utcnow())
    report = NotifyReport(composed=len(mails), dry_run=dry_run,
                          mails=[{"kind": m.kind, "to": m.to, "count": m.count, "subject": m.subject} for m in mails])
    if dry_run or not mails:
        return report
    if not ctx.settings.smtp_url:
        log.warning("notifications_not_sent", why="BWV_SMTP_URL is not set", mails=len(mails))
        return report
    await deliver(ctx, actor, mails, report)
    log.info("notifications_sent", sent=report.sent, failed=report.failed)
    return report


async def notify_weekly(ctx: Context) -> dict[str, int]:
    r = await notify(ctx, list(WEEKLY))
    return {"sent": r.sent, "failed": r.failed}


async def notify_daily(ctx: Context) -> dict[str, int]:
    r = await notify(ctx, list(DAILY))
    return {"sent": r.sent, "failed": r.failed}


JOBS = {JobName.NOTIFY_WEEKLY: notify_weekly, JobName.NOTIFY_DAILY: notify_daily}
CRON = [(JobName.NOTIFY_WEEKLY, lambda settings: 7 * 86400), (JobName.NOTIFY_DAILY, lambda settings: 86400)]
