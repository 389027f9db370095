from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.models import Dock


async def get_dock(session: AsyncSession, dock_id: str, *, for_update: bool = False) -> Dock | None:
    return await session.get(Dock, dock_id, with_for_update=for_update, populate_existing=True)
