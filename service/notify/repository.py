"""The notification lists' SQL: who has an address, and what is due for whom."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.models import User
from service.auth.schemas import Principal
from service.recordings.models import Recording, RecordingAccess, RecordingStatus
from service.recordings.repository import readable_by
from service.retention.models import Review, ReviewStatus
from service.retention.repository import due
from service.sar.models import Sar, SarStatus


async def users_with_email(s: AsyncSession) -> list[User]:
    q = select(User).where(User.email.is_not(None), User.disabled_at.is_(None)).order_by(User.username)
    return list((await s.execute(q)).scalars())


async def officers_due(s: AsyncSession, officers: list[str], until: datetime,
                       keep: Iterable[str]) -> list[Recording]:
    """These officers' own footage due for deletion by ``until``; restricted footage only where the
    officer is one of the people it is opened to."""
    if not officers:
        return []
    opened = exists().where(RecordingAccess.recording_id == Recording.id,
                            RecordingAccess.sub == Recording.officer_id).correlate_except(RecordingAccess)
    q = (select(Recording).where(due(until, keep), Recording.officer_id.in_(officers),
                                 or_(Recording.restricted.is_(False), opened))
         .order_by(Recording.officer_id, Recording.delete_after, Recording.id))
    return list((await s.execute(q)).scalars())


async def reviews_due(s: AsyncSession, viewer: Principal, as_of: datetime, limit: int) -> list[Review]:
    q = (select(Review).join(Recording, Recording.id == Review.recording_id)
         .where(Review.status == ReviewStatus.PENDING, Review.review_at <= as_of,
                Recording.status == RecordingStatus.ACTIVE, readable_by(viewer))
         .order_by(Review.review_at, Review.id).limit(limit))
    return list((await s.execute(q)).scalars())


async def sars_due(s: AsyncSession, until: datetime) -> list[tuple[str, datetime]]:
    """(id, due_at) of open requests due by ``until`` (overdue ones too): never the requester's data."""
    q = (select(Sar.id, Sar.due_at).where(and_(Sar.status != SarStatus.CLOSED, Sar.due_at.is_not(None),
                                               Sar.due_at <= until))
         .order_by(Sar.due_at, Sar.id))
    return [(sid, at) for sid, at in (await s.execute(q)).all()]
