"""Alerts: anything a supervisor must look at, raised by every domain (clock faults, unreadable media,
hash mismatches, storage refusals, SAR deadlines, failed jobs, throttled sign-ins) and acknowledged once."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.alerts import repository as repo
from service.alerts.models import Alert, AlertKind, Severity
from service.alerts.schemas import AlertOut
from service.audit import service as audit
from service.auth.roles import SUPERVISORS, require
from service.auth.schemas import Principal
from service.errors import Conflict, NotFound
from service.ids import new_id
from service.paging import Page, PageParams, after_id, cut
from service.timeutil import utcnow

# Who reads and acknowledges alerts.
READERS = SUPERVISORS


async def raise_alert(session: AsyncSession, kind: AlertKind, subject_type: str, subject_id: str, message: str,
                      details: dict[str, Any] | None = None, severity: Severity = Severity.WARNING) -> Alert:
    """Open an alert, or count one more occurrence on the open alert of the same kind and subject."""
    now = utcnow()
    alert = await repo.find_open(session, kind, subject_id)
    if alert is not None:
        alert.occurrences += 1
        alert.last_at = now
        alert.message = message
        alert.details = {**alert.details, **(details or {})}
        return alert
    return await repo.add(session, Alert(id=new_id("alr"), kind=kind, severity=severity, subject_type=subject_type,
                                         subject_id=subject_id, message=message, details=details or {},
                                         occurrences=1, created_at=now, last_at=now))


async def list_alerts(session: AsyncSession, actor: Principal, page: PageParams, *, open_only: bool | None = None,
                      kind: str | None = None) -> Page[AlertOut]:
    require(actor, READERS)
    rows = await repo.page(session, open_only=open_only, kind=kind, after=after_id(page), limit=page.limit + 1,
                           viewer=actor)
    rows, nxt = cut(rows, page, lambda a: [a.id])
    return Page[AlertOut](items=[AlertOut.of(a) for a in rows], next_cursor=nxt)


async def ack(session: AsyncSession, actor: Principal, alert_id: str, note: str | None) -> AlertOut:
    require(actor, READERS)
    alert = await repo.get(session, alert_id, for_update=True)
    if alert is None:
        raise NotFound(f"No alert {alert_id!r}.")
    if alert.acked_at is not None:
        raise Conflict(f"Alert {alert_id} was already acknowledged by {alert.acked_by}.", slug="already-acked")
    alert.acked_at, alert.acked_by, alert.ack_note = utcnow(), actor.sub, note
    await audit.record(session, actor, "alert.acked", "alert", alert_id, {"kind": alert.kind, "note": note})
    return AlertOut.of(alert)
