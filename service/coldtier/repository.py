"""Cold tier queries: what is due to move, what a crash or Object Lock left half-done, open restores, and
the per-tier forecast (set-based: one statement for all the months)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.recordings.models import Recording, RecordingStatus, RestoreStatus, StorageTier


def _kept_past(as_of: datetime):
    return or_(Recording.delete_after.is_(None), Recording.delete_after > as_of)


async def claim_for_move(s: AsyncSession, *, captured_before: datetime, kept_past: datetime,
                         limit: int) -> list[Recording]:
    """Active hot footage captured before ``captured_before`` that is still kept at ``kept_past`` and has no
    move under way, locked (SKIP LOCKED: several workers share the work, a sweep's rows are skipped)."""
    q = (select(Recording)
         .where(Recording.status == RecordingStatus.ACTIVE, Recording.storage_tier == StorageTier.HOT,
                Recording.other_key.is_(None), Recording.basis_start <= captured_before, _kept_past(kept_past))
         .order_by(Recording.basis_start, Recording.id).limit(limit)
         .with_for_update(skip_locked=True).execution_options(populate_existing=True))
    return list((await s.execute(q)).scalars())


async def with_second_copy(s: AsyncSession, *, after: str | None, limit: int) -> list[Recording]:
    """Rows that account for a second stored copy (``other_key``), in id order from ``after``."""
    q = select(Recording).where(Recording.other_key.is_not(None))
    if after:
        q = q.where(Recording.id > after)
    return list((await s.execute(q.order_by(Recording.id).limit(limit))).scalars())


async def open_restores(s: AsyncSession, *, after: str | None, limit: int) -> list[Recording]:
    q = select(Recording).where(Recording.storage_tier == StorageTier.COLD,
                                Recording.status == RecordingStatus.ACTIVE,
                                Recording.restore_status.in_((RestoreStatus.REQUESTED, RestoreStatus.READY)))
    if after:
        q = q.where(Recording.id > after)
    return list((await s.execute(q.order_by(Recording.id).limit(limit))).scalars())


async def tier_forecast(s: AsyncSession, points: list[datetime], cold_after_days: int | None,
                        min_stay: timedelta, visible: ColumnElement[bool]) -> list[dict]:
    """For each instant of ``points``: bytes and recordings of today's footage still stored then, per tier,
    under the retention policy (deleted at ``delete_after``; moved cold ``cold_after_days`` after capture
    while kept). One pass over the table."""
    cols = []
    for i, t in enumerate(points):
        alive = and_(Recording.status != RecordingStatus.DELETED, _kept_past(t))
        if cold_after_days is None:
            cold = Recording.storage_tier == StorageTier.COLD
        else:
            # Approximate for footage deleted within min_stay of t (the move itself decides when it is due).
            cold = or_(Recording.storage_tier == StorageTier.COLD,
                       and_(Recording.basis_start <= t - timedelta(days=cold_after_days), _kept_past(t + min_stay)))
        cols += [func.coalesce(func.sum(case((and_(alive, ~cold), Recording.size_bytes), else_=0)), 0).label(f"hb{i}"),
                 func.coalesce(func.sum(case((and_(alive, cold), Recording.size_bytes), else_=0)), 0).label(f"cb{i}"),
                 func.coalesce(func.sum(case((and_(alive, ~cold), 1), else_=0)), 0).label(f"hn{i}"),
                 func.coalesce(func.sum(case((and_(alive, cold), 1), else_=0)), 0).label(f"cn{i}")]
    row = (await s.execute(select(*cols).select_from(Recording)
                           .where(Recording.status != RecordingStatus.DELETED, visible))).one()
    m = row._mapping
    return [{"hot_bytes": int(m[f"hb{i}"]), "cold_bytes": int(m[f"cb{i}"]), "hot_recordings": int(m[f"hn{i}"]),
             "cold_recordings": int(m[f"cn{i}"])} for i in range(len(points))]
