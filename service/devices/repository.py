from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.devices.models import ClockCheck, Device


async def get(session: AsyncSession, device_id: str, *, for_update: bool = False) -> Device | None:
    return await session.get(Device, device_id, with_for_update=for_update, populate_existing=for_update)


async def add(session: AsyncSession, *rows: Device | ClockCheck) -> None:
    session.add_all(rows)
    await session.flush()


async def page(session: AsyncSession, *, after: str | None, limit: int,
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
