from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.models import AuditCheckpoint, AuditEvent, AuditHead, AuditVerification
from service.db import advisory_xact_lock

# Any constant works; it only has to be the same in every process that appends.
AUDIT_LOCK_KEY = 0x6277_7661_7564  # "bwvaud"


async def lock_chain(session: AsyncSession) -> None:
    """Serialise appends for the rest of the transaction so the chain stays linear.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: BEGIN IMMEDIATE already holds the
    database write lock for the whole transaction.
    """
    await advisory_xact_lock(session, AUDIT_LOCK_KEY)


CHECKPOINT_LOCK_KEY = 0x6277_7663_6B70  # "bwvckp"


async def lock_checkpoints(session: AsyncSession) -> None:
    """Serialise checkpoint makers (not appends) for the rest of the transaction: one head, one checkpoint.
    SQLite: BEGIN IMMEDIATE already serialises every writer."""
    await advisory_xact_lock(session, CHECKPOINT_LOCK_KEY)


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


async def stream_all(session: AsyncSession, batch: int = 5000, after: int = 0) -> AsyncIterator[Any]:
    """Every event after seq *after*, in order, a batch at a time, as plain rows (attribute access like the
    model's, without the ORM's per-object cost: verification reads millions)."""
    columns = AuditEvent.__table__.columns
    while True:
        res = await session.execute(select(*columns).where(columns.seq > after).order_by(columns.seq).limit(batch))
        rows = res.all()
        if not rows:
            return
        for row in rows:
            yield row
        after = rows[-1].seq


async def get_event(session: AsyncSession, seq: int) -> AuditEvent | None:
    res = await session.execute(select(AuditEvent).where(AuditEvent.seq == seq))
    return res.scalar_one_or_none()


async def last_event_seq(session: AsyncSession) -> int:
    return (await session.execute(select(func.max(AuditEvent.seq)))).scalar() or 0


async def get_checkpoint(session: AsyncSession, seq: int) -> AuditCheckpoint | None:
    res = await session.execute(select(AuditCheckpoint).where(AuditCheckpoint.seq == seq))
    return res.scalar_one_or_none()


async def latest_checkpoint(session: AsyncSession) -> AuditCheckpoint | None:
    res = await session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1))
    return res.scalar_one_or_none()


async def checkpoints(session: AsyncSession, *, after_seq: int = 0, before_seq: int | None = None,
                      limit: int | None = None, newest_first: bool = False) -> list[AuditCheckpoint]:
    q = select(AuditCheckpoint).where(AuditCheckpoint.seq > after_seq)
    if before_seq is not None:
        q = q.where(AuditCheckpoint.seq < before_seq)
    q = q.order_by(AuditCheckpoint.seq.desc() if newest_first else AuditCheckpoint.seq)
    if limit is not None:
        q = q.limit(limit)
    return list((await session.execute(q)).scalars())


async def add_checkpoint(session: AsyncSession, checkpoint: AuditCheckpoint) -> None:
    session.add(checkpoint)
    await session.flush()


async def add_verification(session: AsyncSession, row: AuditVerification) -> None:
    session.add(row)
    await session.flush()


async def last_verification(session: AsyncSession, *, ok: bool | None = None) -> AuditVerification | None:
    q = select(AuditVerification)
    if ok is not None:
        q = q.where(AuditVerification.ok == ok)
    res = await session.execute(q.order_by(AuditVerification.at.desc()).limit(1))
    return res.scalar_one_or_none()
