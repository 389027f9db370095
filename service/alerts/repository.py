from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.alerts.models import Alert
from service.auth.schemas import Principal
from service.recordings.repository import subject_readable


async def find_open(session: AsyncSession, kind: str, subject_id: str) -> Alert | None:
    q = (select(Alert).where(Alert.kind == kind, Alert.subject_id == subject_id, Alert.acked_at.is_(None))
         .with_for_update())
    return (await session.execute(q)).scalars().first()


async def get(session: AsyncSession, alert_id: str, *, for_update: bool = False) -> Alert | None:
    return await session.get(Alert, alert_id, with_for_update=for_update, populate_existing=for_update)


async def add(session: AsyncSession, alert: Alert) -> Alert:
    session.add(alert)
    await session.flush()
    return alert


async def page(session: AsyncSession, *, open_only: bool | None, kind: str | None,
               after: str | None, limit: int, viewer: Principal) -> list[Alert]:
    """Alerts about a recording are listed only to those who may see it (restricted footage)."""
    q = select(Alert).where(subject_readable(viewer, Alert.subject_type, Alert.subject_id))
    if open_only is True:
        q = q.where(Alert.acked_at.is_(None))
    elif open_only is False:
        q = q.where(Alert.acked_at.is_not(None))
    if kind:
        q = q.where(Alert.kind == kind)
    if after:
        q = q.where(Alert.id > after)
    return list((await session.execute(q.order_by(Alert.id).limit(limit))).scalars())
