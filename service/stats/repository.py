from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.models import AuditEvent
from service.db import is_postgres
from service.disclosure.models import Share
from service.recordings.models import Recording, RecordingStatus
from service.retention.models import Flag, Hold
from service.sar.models import Sar, SarStatus
from service.timeutil import utcnow


def month(s: AsyncSession, col) -> ColumnElement[str]:
    return func.to_char(col, "YYYY-MM") if is_postgres(s) else func.strftime("%Y-%m", col)


async def per_month(s: AsyncSession, col, start: datetime, end: datetime, *where) -> dict[str, int]:
    m = month(s, col)
    q = select(m, func.count()).where(col >= start, col < end, *where).group_by(m)
    return {k: int(v) for k, v in (await s.execute(q)).all()}


async def counts(s: AsyncSession, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
    return {
        "uploaded": await per_month(s, Recording.received_at, start, end),
        "auto_deleted": await per_month(s, Recording.deleted_at, start, end, Recording.status == RecordingStatus.DELETED),
        "flagged": await per_month(s, Flag.created_at, start, end),
        "held": await per_month(s, Hold.created_at, start, end),
        "restricted": await per_month(s, AuditEvent.at, start, end, AuditEvent.action == "recording.restricted"),
        "shared": await per_month(s, Share.created_at, start, end),
        # Subject access: counts only (the requester's details never leave the sars table).
        "sars_received": await per_month(s, Sar.received_at, start, end),
        "sars_closed": await per_month(s, Sar.closed_at, start, end, Sar.status == SarStatus.CLOSED),
        # By the month the answer was due: answered late, or due and still not answered.
        "sars_overdue": await per_month(s, Sar.due_at, start, end, or_(
            and_(Sar.status == SarStatus.CLOSED, Sar.closed_at > Sar.due_at),
            and_(Sar.status != SarStatus.CLOSED, Sar.due_at < utcnow()))),
    }
