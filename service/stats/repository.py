from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.models import AuditEvent
from service.db import is_postgres
from service.disclosure.models import Share
from service.recordings.models import Recording, RecordingStatus
from service.retention.models import Flag, Hold, Review
from service.sar.models import Sar, SarStatus
from service.timeutil import utcnow


def month(s: AsyncSession, col) -> ColumnElement[str]:
    return func.to_char(col, "YYYY-MM") if is_postgres(s) else func.strftime("%Y-%m", col)


async def per_month(s: AsyncSession, col, start: datetime, end: datetime, *where) -> dict[str, int]:
    m = month(s, col)
    q = select(m, func.count()).where(col >= start, col < end, *where).group_by(m)
    return {k: int(v) for k, v in (await s.execute(q)).all()}


async def counts(s: AsyncSession, start: datetime, end: datetime,
                 overdue_after: timedelta = timedelta(days=14)) -> dict[str, dict[str, int]]:
    # Reviews: by the month they fell due, decided by the month of the decision; overdue: left undecided
    # past the grace (decided late, or still pending) — with the grace added in Python, not in SQL.
    now = utcnow()
    pending_late = and_(Review.status == "pending", Review.review_at < now - overdue_after)
    reviews = [r for r in (await s.execute(select(Review.review_at, Review.decided_at).where(
        Review.review_at >= start, Review.review_at < end,
        or_(pending_late, Review.status.in_(["retained", "released"]))))).all()]
    overdue: dict[str, int] = {}
    for review_at, decided_at in reviews:
        if (decided_at or now) > review_at + overdue_after:
            key = review_at.strftime("%Y-%m")
            overdue[key] = overdue.get(key, 0) + 1
    return {
        "reviews_due": await per_month(s, Review.review_at, start, end, Review.status != "ended",
                                       Review.review_at <= now),
        "reviews_decided": await per_month(s, Review.decided_at, start, end,
                                           Review.status.in_(["retained", "released"])),
        "reviews_overdue": overdue,
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
