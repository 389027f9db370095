from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.models import AuditEvent, AuditHead
from service.db import is_postgres

# Any constant works; it only has to be the same in every process that appends.
AUDIT_LOCK_KEY = 0x6277_7661_7564  # "bwvaud"


async def lock_chain(session: AsyncSession) -> None:
    """Serialise appends for the rest of the transaction so the chain stays linear.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: BEGIN IMMEDIATE already holds the
    database write lock for the whole transaction.
    """
    if is_postgres(session):
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK_KEY})


async def insert_many(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Many events in one INSERT (their hashes already chained by the caller, under the chain lock)."""
    await session.execute(insert(AuditEvent), rows)


async def get_head(session: AsyncSession) -> AuditHead | None:
    res = await session.execute(
        select(AuditHead).where(AuditHead.id == 1).execution_options(populate_existing=True))
    return res.scalar_one_or_none()


async def list_events(session: AsyncSession, *, object_id: str | None = None, actor: str | None = None,
                      action: str | None = None, start: datetime | None = None, end: datetime | None = None,
                      after_seq: int = 0, limit: int = 50) -> list[AuditEvent]:
    q = select(AuditEvent).where(AuditEvent.seq > after_seq)
    if object_id:
        q = q.where(AuditEvent.object_id == object_id)
    if actor:
        q = q.where(AuditEvent.actor == actor)
    if action:
        q = q.where(AuditEvent.action == action)
    if start:
        q = q.where(AuditEvent.at >= start)
    if end:
        q = q.where(AuditEvent.at < end)
    res = await session.execute(q.order_by(AuditEvent.seq).limit(limit))
    return list(res.scalars())


async def events_for_objects(session: AsyncSession, object_ids: list[str]) -> list[AuditEvent]:
    res = await session.execute(
        select(AuditEvent).where(AuditEvent.object_id.in_(object_ids)).order_by(AuditEvent.seq))
    return list(res.scalars())


async def stream_all(session: AsyncSession, batch: int = 5000) -> AsyncIterator[AuditEvent]:
    after = 0
    while True:
        rows = await list_events(session, after_seq=after, limit=batch)
        if not rows:
            return
        for row in rows:
            yield row
        after = rows[-1].seq
        session.expunge_all()
