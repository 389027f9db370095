from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.models import Dock, LoginThrottle, TokenRevocation, User, WebSession
from service.db import is_postgres
from service.timeutil import as_utc


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


async def lock_throttles(session: AsyncSession, keys: list[str]) -> dict[str, LoginThrottle]:
    """The throttle rows under ``keys``, created when missing and locked (sorted, so two attempts sharing
    keys never deadlock): concurrent attempts on one account or address then see each other's failures."""
    insert = pg_insert if is_postgres(session) else sqlite_insert
    await session.execute(insert(LoginThrottle).values([{"key": k, "failures": 0} for k in sorted(keys)])
                          .on_conflict_do_nothing(index_elements=["key"]))
    rows = await session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))
                                 .order_by(LoginThrottle.key).with_for_update()
                                 .execution_options(populate_existing=True))
    return {r.key: r for r in rows}


async def add_revocation(session: AsyncSession, kind: str, value: str, at: datetime, by: str) -> None:
    session.add(TokenRevocation(kind=kind, value=value, revoked_at=at, revoked_by=by))
    await session.flush()


async def revoked_since(session: AsyncSession, sub: str, jti: str | None) -> tuple[bool, datetime | None]:
    """(is this jti revoked, the latest revocation of every token of ``sub``) in one query."""
    cond = (TokenRevocation.kind == "sub") & (TokenRevocation.value == sub)
    if jti:
        cond = cond | ((TokenRevocation.kind == "jti") & (TokenRevocation.value == jti))
    rows = (await session.execute(select(TokenRevocation.kind, func.max(TokenRevocation.revoked_at))
                                  .where(cond).group_by(TokenRevocation.kind))).all()
    found = dict(rows)
    return "jti" in found, as_utc(found["sub"]) if found.get("sub") else None
