from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.models import Dock, User, WebSession


async def get_dock(session: AsyncSession, dock_id: str, *, for_update: bool = False) -> Dock | None:
    return await session.get(Dock, dock_id, with_for_update=for_update, populate_existing=True)


async def get_user(session: AsyncSession, username: str, *, for_update: bool = False) -> User | None:
    return await session.get(User, username, with_for_update=for_update, populate_existing=for_update)


async def list_users(session: AsyncSession) -> list[User]:
    return list((await session.scalars(select(User).order_by(User.username))).all())


async def get_web_session(session: AsyncSession, sid: str) -> WebSession | None:
    return await session.get(WebSession, sid)


async def end_web_session(session: AsyncSession, sid: str, at: datetime, reason: str) -> bool:
    """End a live session; False when it had already ended (or never existed)."""
    res = await session.execute(update(WebSession).where(WebSession.id == sid, WebSession.ended_at.is_(None))
                                .values(ended_at=at, ended_reason=reason))
    return bool(res.rowcount)
