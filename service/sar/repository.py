"""SAR queries. Who may see SARs is decided by the endpoints' roles (sar_handler, auditor): a SAR is not
owned by one handler, the team works the queue together. Which of its recordings (candidates, items) a
person sees is the recordings' readable statement (``visible_to``): restricted footage stays held but
unlisted to anyone it is not opened to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, exists, func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.schemas import Principal
from service.db import UTCDateTime
from service.recordings import repository as recordings_repo
from service.recordings.models import Recording
from service.retention.models import HoldRecording
from service.sar.models import Sar, SarFaceScan, SarFaceTrack, SarItem, SarStatus


async def get(s: AsyncSession, sar_id: str, *, for_update: bool = False) -> Sar | None:
    return await s.get(Sar, sar_id, with_for_update=for_update, populate_existing=True)


def _visible(q, visible_to: Principal | None):
    """Items whose recording ``visible_to`` may see (None: all of them, for jobs and disclosure)."""
    if visible_to is None:
        return q
    return q.where(exists().where(Recording.id == SarItem.recording_id, recordings_repo.readable_by(visible_to)))


async def items(s: AsyncSession, sar_id: str, visible_to: Principal | None = None) -> list[SarItem]:
    q = select(SarItem).where(SarItem.sar_id == sar_id).order_by(SarItem.added_at, SarItem.id)
    return list((await s.execute(_visible(q, visible_to))).scalars())


async def item_counts(s: AsyncSession, sar_ids: list[str], visible_to: Principal | None = None) -> dict[str, int]:
    if not sar_ids:
        return {}
    q = _visible(select(SarItem.sar_id, func.count()).where(SarItem.sar_id.in_(sar_ids)), visible_to)
    return {sar_id: int(n) for sar_id, n in (await s.execute(q.group_by(SarItem.sar_id))).all()}


async def item(s: AsyncSession, sar_id: str, item_id: str, *, for_update: bool = False,
               visible_to: Principal | None = None) -> SarItem | None:
    q = _visible(select(SarItem).where(SarItem.id == item_id, SarItem.sar_id == sar_id), visible_to)
    if for_update:
        q = q.with_for_update().execution_options(populate_existing=True)
    return (await s.execute(q)).scalars().first()


async def item_for_recording(s: AsyncSession, sar_id: str, recording_id: str, start: float | None,
                             end: float | None) -> SarItem | None:
    q = select(SarItem).where(SarItem.sar_id == sar_id, SarItem.recording_id == recording_id,
                              SarItem.clip_start_s.is_(None) if start is None else SarItem.clip_start_s == start,
                              SarItem.clip_end_s.is_(None) if end is None else SarItem.clip_end_s == end)
    return (await s.execute(q)).scalars().first()


def item_recordings(sar_id: str):
    """The recordings that are items of this request (a disclosure carries them out)."""
    return exists().where(SarItem.sar_id == sar_id, SarItem.recording_id == Recording.id)


def _held_by(hold_id: str):
    return exists().where(HoldRecording.hold_id == hold_id, HoldRecording.recording_id == Recording.id)


async def held_recordings(s: AsyncSession, hold_id: str, visible_to: Principal) -> list[Recording]:
    q = (select(Recording).where(_held_by(hold_id), recordings_repo.readable_by(visible_to))
         .order_by(Recording.basis_start, Recording.id))
    return list((await s.execute(q)).scalars())


async def restricted_in_hold(s: AsyncSession, hold_id: str, viewer: Principal) -> tuple[int, list[str]]:
    """How much restricted footage the hold covers that ``viewer`` may not see, and whom to ask."""
    return await recordings_repo.restricted_contacts(s, viewer, _held_by(hold_id))


def not_closed():
    """Written into the SQL, not bound: a generic plan can then use the partial index ix_sars_active_due."""
    return Sar.status != literal(SarStatus.CLOSED.value, literal_execute=True)


def overdue_clause(now: datetime):
    return and_(not_closed(), Sar.due_at.is_not(None), Sar.due_at < now)


def _filters(now: datetime, overdue: bool | None, status: str | None, active: bool) -> list:
    conds = []
    if overdue is True:
        conds.append(overdue_clause(now))
    elif overdue is False:
        conds.append(or_(Sar.status == SarStatus.CLOSED, Sar.due_at.is_(None), Sar.due_at >= now))
    if status:
        conds.append(Sar.status == status)
    if active:
        conds.append(not_closed())
    return conds


async def search(s: AsyncSession, *, now: datetime, overdue: bool | None, status: str | None,
                 after: str | None, limit: int, active: bool = False) -> list[Sar]:
    q = select(Sar).where(*_filters(now, overdue, status, active)).order_by(Sar.id).limit(limit + 1)
    if after:
        q = q.where(Sar.id > after)
    return list((await s.execute(q)).scalars())


async def search_by_due(s: AsyncSession, *, now: datetime, overdue: bool | None, status: str | None,
                        after: tuple[datetime | None, str] | None, limit: int, active: bool = False) -> list[Sar]:
    """Earliest due first, then the stopped clocks (no due date) by id; ``limit + 1`` rows. Two index range
    scans (dated, then undated) rather than one OR, which no index can serve past the first page."""
    conds = _filters(now, overdue, status, active)
    rows: list[Sar] = []
    if after is None or after[0] is not None:
        q = select(Sar).where(*conds, Sar.due_at.is_not(None))
        if after is not None:
            q = q.where(tuple_(Sar.due_at, Sar.id) > tuple_(literal(after[0], UTCDateTime()), literal(after[1])))
        rows = list((await s.execute(q.order_by(Sar.due_at, Sar.id).limit(limit + 1))).scalars())
        if len(rows) > limit:
            return rows
    q = select(Sar).where(*conds, Sar.due_at.is_(None))
    if after is not None and after[0] is None:
        q = q.where(Sar.id > after[1])
    rows += (await s.execute(q.order_by(Sar.id).limit(limit + 1 - len(rows)))).scalars()
    return rows


async def count_overdue(s: AsyncSession, now: datetime) -> int:
    return int((await s.execute(select(func.count()).select_from(Sar).where(overdue_clause(now)))).scalar_one())


async def due_by(s: AsyncSession, until: datetime) -> list[Sar]:
    """Open requests due before ``until`` (overdue ones included): the deadline job's worklist."""
    q = select(Sar).where(not_closed(), Sar.due_at.is_not(None), Sar.due_at < until).order_by(Sar.due_at, Sar.id)
    return list((await s.execute(q)).scalars())


async def item_by_id(s: AsyncSession, item_id: str, *, for_update: bool = False) -> SarItem | None:
    """An item by its id alone (the jobs know only that)."""
    return await s.get(SarItem, item_id, with_for_update=for_update, populate_existing=True)


async def face_scan(s: AsyncSession, item_id: str, *, for_update: bool = False) -> SarFaceScan | None:
    return await s.get(SarFaceScan, item_id, with_for_update=for_update, populate_existing=True)


async def face_track(s: AsyncSession, track_id: str) -> SarFaceTrack | None:
    return await s.get(SarFaceTrack, track_id)


async def face_tracks(s: AsyncSession, item_id: str, run: str) -> list[SarFaceTrack]:
    rows = await s.execute(select(SarFaceTrack).where(SarFaceTrack.item_id == item_id, SarFaceTrack.run == run)
                           .order_by(SarFaceTrack.number))
    return list(rows.scalars())


async def drop_other_face_runs(s: AsyncSession, item_id: str, run: str) -> list[str]:
    """Deletes the item's tracks of every run but *run*; their thumbnails' keys, for storage to forget."""
    old = [r.thumbnail_key for r in (await s.execute(select(SarFaceTrack).where(
        SarFaceTrack.item_id == item_id, SarFaceTrack.run != run))).scalars() if r.thumbnail_key]
    await s.execute(delete(SarFaceTrack).where(SarFaceTrack.item_id == item_id, SarFaceTrack.run != run))
    return old




async def drop_face_data(s: AsyncSession, sar_id: str) -> tuple[int, list[str]]:
    """Deletes every face scan and track of the request's items (the requester's face and bystanders'
    alike); how many tracks went, and their thumbnails' keys, for storage to forget."""
    of_sar = SarFaceTrack.item_id.in_(select(SarItem.id).where(SarItem.sar_id == sar_id))
    tracks = list((await s.execute(select(SarFaceTrack).where(of_sar))).scalars())
    await s.execute(delete(SarFaceTrack).where(of_sar))
    await s.execute(delete(SarFaceScan).where(SarFaceScan.sar_id == sar_id))
    return len(tracks), [t.thumbnail_key for t in tracks if t.thumbnail_key]
