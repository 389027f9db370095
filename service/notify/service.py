"""E-mail notifications (API.md "Retention lifecycle"): officers a weekly digest of their own footage due
for deletion within 7 days, so they can flag what is evidence in time; supervisors a daily list of reviews
due; SAR handlers a daily list of requests due within 7 days or overdue — ids and dates only, never a
requester's name, contact or description. Nothing is sent to someone with nothing due.

Composing reads the database (the caller's transaction); sending happens outside any transaction
(notify/tasks.py), so a mail server that is down holds no lock and blocks no sweep, dock or request. Each
mail sent is audited (``notification.sent``: recipient, kind, count); one that still fails after the
retries is audited and alerted."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from service.alerts import service as alerts
from service.alerts.models import AlertKind
from service.audit import service as audit
from service.auth.roles import Role
from service.auth.schemas import Principal
from service.context import Context
from service.notify import repository as repo
from service.notify.models import Mail, MailKind
from service.retention.rules import keep_categories
from service.timeutil import iso

DUE_WITHIN = timedelta(days=7)
LIST_LIMIT = 200  # a mail lists at most this many ids; the count says the rest


def _link(ctx: Context, path: str) -> str:
    return ctx.settings.public_base_url.rstrip("/") + path


def _lines(rows: list[str], total: int) -> str:
    more = f"\n  … and {total - len(rows)} more" if total > len(rows) else ""
    return "\n".join(f"  {r}" for r in rows) + more


async def compose(s: AsyncSession, ctx: Context, kinds: tuple[MailKind, ...], now: datetime) -> list[Mail]:
    users = await repo.users_with_email(s)
    mails: list[Mail] = []
    if MailKind.OFFICER_DIGEST in kinds:
        officers = {u.username: u for u in users if Role.OFFICER in u.roles}
        due: dict[str, list] = {}
        for r in await repo.officers_due(s, sorted(officers), now + DUE_WITHIN,
                                         keep_categories(ctx.policies.retention)):
            due.setdefault(r.officer_id, []).append(r)
        for name, recs in due.items():
            rows = [f"{r.id}  captured {iso(r.trusted_start or r.recorded_start)}  deleted after {iso(r.delete_after)}"
                    f"  {_link(ctx, f'/ui/recordings/{r.id}')}" for r in recs[:LIST_LIMIT]]
            mails.append(Mail(MailKind.OFFICER_DIGEST, name, officers[name].email or "",
                              f"{len(recs)} of your recordings will be deleted within 7 days",
                              "These recordings of yours reach the end of their retention period within 7 days and "
                              "will then be deleted. If any of them is evidence, flag it before then.\n\n"
                              f"{_lines(rows, len(recs))}\n\nYour footage: {_link(ctx, '/ui/officer')}\n",
                              len(recs), [r.id for r in recs[:LIST_LIMIT]]))
    if MailKind.REVIEWS_DUE in kinds:
        for u in users:
            if not {Role.SUPERVISOR, Role.ADMIN} & set(u.roles):
                continue
            viewer = Principal(sub=u.username, roles=frozenset(u.roles))
            rows = await repo.reviews_due(s, viewer, now, LIST_LIMIT + 1)
            if not rows:
                continue
            shown = rows[:LIST_LIMIT]
            lines = [f"{r.id}  recording {r.recording_id}  kept by {r.kept_kind} {r.kept_id}  due {iso(r.review_at)}"
                     for r in shown]
            mails.append(Mail(MailKind.REVIEWS_DUE, u.username, u.email or "",
                              f"Retention reviews due: {len(rows) if len(rows) <= LIST_LIMIT else f'{LIST_LIMIT}+'}",
                              "These retention reviews are due. The footage is kept until someone decides; "
                              "decide each from the review queue.\n\n"
                              f"{_lines(lines, len(rows))}\n\nReview queue: {_link(ctx, '/ui/supervisor/reviews')}\n",
                              len(rows), [r.id for r in shown]))
    if MailKind.SARS_DUE in kinds:
        sars = await repo.sars_due(s, now + DUE_WITHIN)
        if sars:
            lines = [f"{sid}  due {iso(at)}{'  OVERDUE' if at < now else ''}  {_link(ctx, f'/ui/sar/{sid}')}"
                     for sid, at in sars[:LIST_LIMIT]]
            for u in users:
                if Role.SAR_HANDLER not in u.roles:
                    continue
                mails.append(Mail(MailKind.SARS_DUE, u.username, u.email or "",
                                  f"Subject access requests due within 7 days or overdue: {len(sars)}",
                                  "These requests are due within 7 days or overdue.\n\n"
                                  f"{_lines(lines, len(sars))}\n\nRequests: {_link(ctx, '/ui/sar')}\n",
                                  len(sars), [sid for sid, _ in sars[:LIST_LIMIT]]))
    return [m for m in mails if m.to]


def test_mail(to: str) -> Mail:
    return Mail(MailKind.TEST, "-", to, "bodycam: test message",
                "This is a test message from bodycam (bwv notify --test-to). Mail works.\n", 0)


async def record_sent(s: AsyncSession, actor: Principal, mail: Mail, attempts: int) -> None:
    await audit.record(s, actor, "notification.sent", "user", mail.username,
                       {"recipient": mail.to, "kind": mail.kind, "count": mail.count, "attempts": attempts})


async def record_failed(s: AsyncSession, actor: Principal, mail: Mail, attempts: int, error: str) -> None:
    await audit.record(s, actor, "notification.failed", "user", mail.username,
                       {"recipient": mail.to, "kind": mail.kind, "count": mail.count, "attempts": attempts,
                        "error": error[:500]})
    await alerts.raise_alert(s, AlertKind.NOTIFICATION_FAILED, "user", mail.username,
                             f"A {mail.kind} e-mail to {mail.to} could not be sent after {attempts} tries: "
                             f"{error[:300]}", {"kind": mail.kind})
