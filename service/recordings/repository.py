"""Recording queries. Visibility is part of every query (DESIGN.md: authorisation in the query)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, exists, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.schemas import Principal
from service.recordings.models import Recording, RecordingAccess, RecordingStatus

BASIS = {
    "trusted": (Recording.basis_start, Recording.basis_end),
    "device": (Recording.recorded_start, Recording.recorded_end),
    "received": (Recording.received_at, Recording.received_at),
}


def readable_by(p: Principal) -> ColumnElement[bool]:
    """What ``p`` may see. Auditors: everything. A restricted recording: only the people named on it.
    Otherwise officers their own footage; supervisors, disclosure, SAR handlers and admins all of it."""
    if p.has("auditor"):
        return true()
    # correlate_except: a query that itself reads recording_access (whom to ask) still gets its own.
    named = (exists().where(RecordingAccess.recording_id == Recording.id, RecordingAccess.sub == p.sub)
             .correlate_except(RecordingAccess))
    if p.sees_all or p.has("sar_handler"):
        by_role = true()
    elif p.has("officer"):
        by_role = Recording.officer_id == p.sub
    else:
        return false()
    return or_(and_(Recording.restricted.is_(False), by_role), and_(Recording.restricted.is_(True), named))


def hidden_restricted(p: Principal) -> ColumnElement[bool]:
    """Restricted footage ``p`` may not see: what a list leaves out but a SAR handler is told about."""
    return and_(Recording.restricted.is_(True), ~readable_by(p))


def subject_readable(p: Principal, subject_type: ColumnElement[str], subject_id: ColumnElement[str]) -> ColumnElement[bool]:
    """For rows that may name a recording (alerts): those about a recording only when ``p`` may see it."""
    return or_(subject_type != "recording",
               exists().where(Recording.id == subject_id, readable_by(p)))


async def restricted_contacts(session: AsyncSession, p: Principal,
                              among: ColumnElement[bool]) -> tuple[int, list[str]]:
    """How many recordings matching ``among`` are restricted away from ``p``, and the people they are
    opened to (whom to ask): never which recordings they are."""
    hidden = and_(among, hidden_restricted(p))
    count = (await session.execute(select(func.count()).select_from(Recording).where(hidden))).scalar_one()
    if not count:
        return 0, []
    q = (select(RecordingAccess.sub).join(Recording, Recording.id == RecordingAccess.recording_id)
         .where(hidden).distinct())
    return int(count), sorted((await session.execute(q)).scalars())


async def get(session: AsyncSession, recording_id: str, *, for_update: bool = False) -> Recording | None:
    return await session.get(Recording, recording_id, with_for_update=for_update, populate_existing=True)


async def by_ids(session: AsyncSession, ids: list[str]) -> dict[str, Recording]:
    """The recordings behind a list of items (exhibits, SAR items), by id. For jobs whose caller was
    authorised when the item was added."""
    rows = await session.execute(select(Recording).where(Recording.id.in_(ids)))
    return {r.id: r for r in rows.scalars()}


async def by_ids_for_update(session: AsyncSession, ids: list[str]) -> dict[str, Recording]:
    """Like :func:`by_ids`, the rows locked (in id order, so two lockers never deadlock)."""
    q = (select(Recording).where(Recording.id.in_(ids)).order_by(Recording.id).with_for_update()
         .execution_options(populate_existing=True))
    return {r.id: r for r in (await session.execute(q)).scalars()}


async def get_readable(session: AsyncSession, p: Principal, recording_id: str, *,
                       for_update: bool = False) -> Recording | None:
    q = select(Recording).where(Recording.id == recording_id, readable_by(p))
    if for_update:
        q = q.with_for_update(of=Recording).execution_options(populate_existing=True)
    return (await session.execute(q)).scalars().first()


async def find_by_hash(session: AsyncSession, device_id: str, sha256: str) -> Recording | None:
    q = select(Recording).where(Recording.device_id == device_id, Recording.sha256 == sha256)
    return (await session.execute(q)).scalars().first()


async def search(session: AsyncSession, p: Principal, *, officer_id: str | None = None,
                 device_id: str | None = None, start: datetime | None = None, end: datetime | None = None,
                 time_basis: str = "trusted", flagged: bool | None = None, status: str | None = None,
                 after: tuple[datetime, str] | None = None, limit: int = 50,
                 extra: list[ColumnElement[bool]] | None = None) -> list[Recording]:
    lo, hi = BASIS[time_basis]
    q = select(Recording).where(readable_by(p))
    if officer_id:
        q = q.where(Recording.officer_id == officer_id)
    if device_id:
        q = q.where(Recording.device_id == device_id)
    if start is not None:
        q = q.where(hi >= start)
    if end is not None:
        q = q.where(lo < end)
    if flagged is True:
        q = q.where(Recording.retention_category != "default")
    elif flagged is False:
        q = q.where(Recording.retention_category == "default")
    if status == RecordingStatus.ACTIVE:
        q = q.where(Recording.status != RecordingStatus.DELETED)
    elif status == RecordingStatus.DELETED:
        q = q.where(Recording.status == RecordingStatus.DELETED)
    for cond in extra or []:
        q = q.where(cond)
    if after:
        at, rid = after
        q = q.where(or_(lo > at, and_(lo == at, Recording.id > rid)))
    q = q.order_by(lo, Recording.id).limit(limit)
    return list((await session.execute(q)).scalars())


async def access_list(session: AsyncSession, recording_id: str) -> list[str]:
    q = select(RecordingAccess.sub).where(RecordingAccess.recording_id == recording_id)
    return sorted((await session.execute(q)).scalars())


async def set_access(session: AsyncSession, recording_id: str, people: list[str]) -> None:
    """Exactly these people may see the recording while it is restricted (none: the list is cleared)."""
    await session.execute(delete(RecordingAccess).where(RecordingAccess.recording_id == recording_id))
    session.add_all([RecordingAccess(recording_id=recording_id, sub=p) for p in people])
    await session.flush()


async def pending_working_copies(session: AsyncSession, received_before: datetime, limit: int = 500) -> list[str]:
    """Recordings whose working copy was asked for and never made (a job lost to a crash or a dead worker)."""
    q = (select(Recording.id).where(Recording.working_copy_status == "pending",
                                    Recording.status == RecordingStatus.ACTIVE,
                                    Recording.received_at < received_before).limit(limit))
    return list((await session.execute(q)).scalars())
