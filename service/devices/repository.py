from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.schemas import Principal
from service.devices.models import Alert, ClockCheck, Device
from service.recordings.repository import subject_readable


async def get_device(session: AsyncSession, device_id: str, *, for_update: bool = False) -> Device | None:
    return await session.get(Device, device_id, with_for_update=for_update, populate_existing=True)


async def list_devices(session: AsyncSession, *, after: str | None, limit: int,
                       clock_status: str | None = None) -> list[Device]:
    q = select(Device)
    if after:
        q = q.where(Device.id > after)
    if clock_status:
        q = q.where(Device.clock_status == clock_status)
    return list((await session.execute(q.order_by(Device.id).limit(limit))).scalars())


async def clock_history(session: AsyncSession, device_id: str, limit: int = 50) -> list[ClockCheck]:
    q = (select(ClockCheck).where(ClockCheck.device_id == device_id)
         .order_by(ClockCheck.at.desc(), ClockCheck.id.desc()).limit(limit))
    return list((await session.execute(q)).scalars())


async def find_open_alert(session: AsyncSession, kind: str, subject_id: str) -> Alert | None:
    q = (select(Alert).where(Alert.kind == kind, Alert.subject_id == subject_id, Alert.acked_at.is_(None))
         .with_for_update())
    return (await session.execute(q)).scalars().first()


async def get_alert(session: AsyncSession, alert_id: str, *, for_update: bool = False) -> Alert | None:
    return await session.get(Alert, alert_id, with_for_update=for_update, populate_existing=True)


async def list_alerts(session: AsyncSession, *, open_only: bool | None, kind: str | None,
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
