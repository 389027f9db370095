"""Retention SQL: one definition of "protected" and "due", shared by the sweep, forecast and upcoming."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.schemas import Principal
from service.db import advisory_xact_lock, is_postgres
from service.devices.clock import TimeTrust
from service.recordings.models import Recording, RecordingStatus
from service.recordings.repository import readable_by
from service.retention.models import (
    Flag,
    Hold,
    HoldRecording,
    PolicyVersion,
    Review,
    ReviewStatus,
    Sweep,
    SweepStatus,
)


def held() -> ColumnElement[bool]:
    return exists().where(HoldRecording.recording_id == Recording.id, HoldRecording.hold_id == Hold.id,
                          Hold.released_at.is_(None))


def kept_by_flag(keep_categories: Iterable[str]) -> ColumnElement[bool]:
    return exists().where(Flag.recording_id == Recording.id, Flag.removed_at.is_(None),
                          Flag.category.in_(list(keep_categories)))


def due(as_of: datetime, keep_categories: Iterable[str]) -> ColumnElement[bool]:
    """Due for deletion at ``as_of``: active, past ``delete_after``, and (re-checked, whatever
    ``delete_after`` says) neither held nor flagged into a category that is kept."""
    return and_(Recording.status == RecordingStatus.ACTIVE, Recording.delete_after.is_not(None),
                Recording.delete_after <= as_of, ~held(), ~kept_by_flag(keep_categories),
                or_(Recording.retain_until.is_(None), Recording.retain_until <= as_of))


async def claim_due(s: AsyncSession, as_of: datetime, keep: Iterable[str], limit: int,
                    exclude: Iterable[str] = ()) -> list[Recording]:
    """``exclude``: ids storage already refused to delete in this sweep (else it would claim them forever)."""
    q = select(Recording).where(due(as_of, keep)).order_by(Recording.delete_after).limit(limit)
    if exclude:
        q = q.where(Recording.id.not_in(list(exclude)))
    if is_postgres(s):
        q = q.with_for_update(skip_locked=True, of=Recording)
    return list((await s.execute(q)).scalars())


async def lock_deleting(s: AsyncSession, limit: int, ids: list[str] | None = None) -> list[Recording]:
    q = select(Recording).where(Recording.status == RecordingStatus.DELETING)
    if ids is not None:
        q = q.where(Recording.id.in_(ids))
    q = q.order_by(Recording.id).limit(limit)
    if is_postgres(s):
        q = q.with_for_update(skip_locked=True, of=Recording)
    return list((await s.execute(q.execution_options(populate_existing=True))).scalars())


async def protected_ids(s: AsyncSession, ids: list[str], keep: Iterable[str], as_of: datetime) -> set[str]:
    """Of ``ids``, those protected now: held, flagged into a kept category, or before their retain_until."""
    if not ids:
        return set()
    q = select(Recording.id).where(Recording.id.in_(ids), or_(held(), kept_by_flag(keep),
                                                              Recording.retain_until > as_of))
    return set((await s.execute(q)).scalars())


async def due_summary(s: AsyncSession, as_of: datetime, keep: Iterable[str],
                      extra: list[ColumnElement[bool]] | None = None) -> tuple[int, int]:
    q = select(func.count(), func.coalesce(func.sum(Recording.size_bytes), 0)).where(due(as_of, keep))
    for cond in extra or []:
        q = q.where(cond)
    count, size = (await s.execute(q)).one()
    return int(count), int(size)


async def due_page(s: AsyncSession, as_of: datetime, keep: Iterable[str], *, after: tuple[datetime, str] | None,
                   limit: int,
                   extra: list[ColumnElement[bool]] | None = None) -> list[Recording]:
    q = select(Recording).where(due(as_of, keep))
    for cond in extra or []:
        q = q.where(cond)
    if after:
        at, rid = after
        q = q.where(or_(Recording.delete_after > at, and_(Recording.delete_after == at, Recording.id > rid)))
    return list((await s.execute(q.order_by(Recording.delete_after, Recording.id).limit(limit))).scalars())


async def active_flags(s: AsyncSession, recording_ids: list[str]) -> list[Flag]:
    q = select(Flag).where(Flag.recording_id.in_(recording_ids), Flag.removed_at.is_(None)).order_by(Flag.created_at)
    return list((await s.execute(q)).scalars())


async def active_holds_for(s: AsyncSession, recording_ids: list[str]) -> list[tuple[str, Hold]]:
    q = (select(HoldRecording.recording_id, Hold).join(Hold, Hold.id == HoldRecording.hold_id)
         .where(HoldRecording.recording_id.in_(recording_ids), Hold.released_at.is_(None)))
    return [(rid, h) for rid, h in (await s.execute(q)).all()]


QUERY_HOLD_LOCK_KEY = 0x6277_7671_686C  # "bwvqhl"; any constant, the same in every process


async def lock_query_holds(s: AsyncSession, *, exclusive: bool) -> None:
    """A new query hold and a recording docked at the same moment must see each other, or neither
    covers it (each reads before the other commits). PostgreSQL: a transaction-scoped advisory lock,
    shared for new recordings, exclusive for a new query hold; take it before any audit.record in the
    transaction (the audit lock comes after it, always). SQLite: BEGIN IMMEDIATE already serialises."""
    await advisory_xact_lock(s, QUERY_HOLD_LOCK_KEY, shared=not exclusive)


def query_hold_matches(hold_from, hold_to, officer_id, device_id) -> ColumnElement[bool]:
    """Footage a query hold covers. Over-inclusive on purpose (rule 1): the trusted time, the camera's
    own time, and any untrusted-clock footage received after the window opened (it could be from it)."""
    window = or_(
        and_(Recording.basis_start < hold_to, Recording.basis_end >= hold_from),
        and_(Recording.recorded_start < hold_to, Recording.recorded_end >= hold_from),
        and_(Recording.time_trust == TimeTrust.UNTRUSTED, Recording.received_at >= hold_from),
    )
    conds = [window, Recording.status != RecordingStatus.DELETED]
    if officer_id:
        conds.append(Recording.officer_id == officer_id)
    if device_id:
        conds.append(Recording.device_id == device_id)
    return and_(*conds)


async def matching_recording_ids(s: AsyncSession, hold: Hold) -> list[str]:
    q = select(Recording.id).where(query_hold_matches(hold.q_from, hold.q_to, hold.q_officer_id, hold.q_device_id))
    return list((await s.execute(q)).scalars())


async def query_holds_matching(s: AsyncSession, rec: Recording) -> list[Hold]:
    """Active query holds that cover a newly docked recording (a camera docked late)."""
    q = select(Hold).where(Hold.released_at.is_(None), Hold.q_from.is_not(None))
    holds = list((await s.execute(q)).scalars())
    out = []
    for h in holds:
        if h.q_officer_id and h.q_officer_id != rec.officer_id:
            continue
        if h.q_device_id and h.q_device_id != rec.device_id:
            continue
        in_window = ((rec.basis_start < h.q_to and rec.basis_end >= h.q_from)
                     or (rec.recorded_start < h.q_to and rec.recorded_end >= h.q_from)
                     or (rec.time_trust == TimeTrust.UNTRUSTED and rec.received_at >= h.q_from))
        if in_window:
            out.append(h)
    return out


async def get_flag(s: AsyncSession, flag_id: str, *, for_update: bool = False) -> Flag | None:
    return await s.get(Flag, flag_id, with_for_update=for_update, populate_existing=True)


async def get_hold(s: AsyncSession, hold_id: str, *, for_update: bool = False) -> Hold | None:
    return await s.get(Hold, hold_id, with_for_update=for_update, populate_existing=True)


async def add(s: AsyncSession, *rows: object) -> None:
    s.add_all(rows)
    await s.flush()


async def recordings(s: AsyncSession, ids: list[str]) -> list[Recording]:
    """These recordings as the database has them now (a refresh overwrites what the session remembers)."""
    q = select(Recording).where(Recording.id.in_(ids)).execution_options(populate_existing=True)
    return list((await s.execute(q)).scalars())


async def active_keys(s: AsyncSession, ids: list[str]) -> list[tuple[str, str]]:
    q = select(Recording.id, Recording.storage_key).where(Recording.id.in_(ids),
                                                           Recording.status == RecordingStatus.ACTIVE)
    return [(rid, key) for rid, key in (await s.execute(q)).all()]


async def covers(s: AsyncSession, hold_id: str, recording_id: str) -> bool:
    return await s.get(HoldRecording, (hold_id, recording_id)) is not None


async def holds_recording_ids(s: AsyncSession, hold_ids: list[str], *, visible_to: Principal) -> dict[str, list[str]]:
    """:func:`hold_recording_ids` of many holds in one query (a page of holds)."""
    out: dict[str, list[str]] = {h: [] for h in hold_ids}
    if not hold_ids:
        return out
    q = (select(HoldRecording.hold_id, HoldRecording.recording_id)
         .join(Recording, Recording.id == HoldRecording.recording_id)
         .where(HoldRecording.hold_id.in_(hold_ids), readable_by(visible_to))
         .order_by(HoldRecording.hold_id, HoldRecording.recording_id))
    for hid, rid in (await s.execute(q)).all():
        out[hid].append(rid)
    return out


async def hold_recording_ids(s: AsyncSession, hold_id: str, *, visible_to: Principal | None = None) -> list[str]:
    """Everything the hold covers, or (``visible_to``) what that person may see of it: a hold still
    protects restricted footage, but lists it only to the people it is opened to."""
    q = select(HoldRecording.recording_id).where(HoldRecording.hold_id == hold_id)
    if visible_to is not None:
        q = q.join(Recording, Recording.id == HoldRecording.recording_id).where(readable_by(visible_to))
    return list((await s.execute(q.order_by(HoldRecording.recording_id))).scalars())


async def list_holds(s: AsyncSession, *, active: bool | None, after: str | None, limit: int) -> list[Hold]:
    q = select(Hold)
    if active is True:
        q = q.where(Hold.released_at.is_(None))
    elif active is False:
        q = q.where(Hold.released_at.is_not(None))
    if after:
        q = q.where(Hold.id > after)
    return list((await s.execute(q.order_by(Hold.id).limit(limit))).scalars())


async def last_successful_sweep(s: AsyncSession) -> Sweep | None:
    q = (select(Sweep).where(Sweep.status == SweepStatus.DONE, Sweep.dry_run.is_(False))
         .order_by(Sweep.finished_at.desc()).limit(1))
    return (await s.execute(q)).scalars().first()


async def list_sweeps(s: AsyncSession, limit: int = 50) -> list[Sweep]:
    return list((await s.execute(select(Sweep).order_by(Sweep.started_at.desc()).limit(limit))).scalars())


async def get_policy_version(s: AsyncSession, sha: str) -> PolicyVersion | None:
    return await s.get(PolicyVersion, sha)


POLICY_LOCK_KEY = 0x6277_7670_6F6C  # "bwvpol"; any constant, the same in every process


async def lock_policy_versions(s: AsyncSession) -> None:
    """Replicas starting together each record the running policy: one at a time, so the second finds the
    first's row instead of inserting it again (a primary-key clash that stopped its start-up). PostgreSQL:
    a transaction-scoped advisory lock, taken before any audit.record. SQLite: BEGIN IMMEDIATE serialises."""
    await advisory_xact_lock(s, POLICY_LOCK_KEY)


async def active_recording_ids(s: AsyncSession, after: str | None, limit: int) -> list[str]:
    q = select(Recording.id).where(Recording.status == RecordingStatus.ACTIVE)
    if after:
        q = q.where(Recording.id > after)
    return list((await s.execute(q.order_by(Recording.id).limit(limit))).scalars())


async def set_status(s: AsyncSession, ids: list[str], status: RecordingStatus) -> None:
    await s.execute(update(Recording).where(Recording.id.in_(ids)).values(status=status))


async def tombstone(s: AsyncSession, ids: list[str], *, at: datetime, policy: str, reason: str) -> None:
    """One UPDATE for many rows. delete_after is cleared so the index of due recordings holds only live
    ones (the audit event keeps when it was due)."""
    await s.execute(update(Recording).where(Recording.id.in_(ids))
                    .values(status=RecordingStatus.DELETED, deleted_at=at, delete_after=None,
                            deletion_policy=policy, deletion_reason=reason)
                    .execution_options(synchronize_session=False))


async def get_sweep(s: AsyncSession, sweep_id: str) -> Sweep | None:
    return await s.get(Sweep, sweep_id)


async def hold_owner(s: AsyncSession, hold_id: str) -> str | None:
    """The open case or SAR whose hold this is ("case URN" / "SAR id"), if any: such a hold ends when its
    owner closes, never through the generic release."""
    from service.disclosure.models import Case, CaseStatus
    from service.sar.models import Sar, SarStatus

    urn = (await s.execute(select(Case.urn).where(Case.hold_id == hold_id, Case.status == CaseStatus.OPEN))).scalar()
    if urn is not None:
        return f"case {urn}"
    sar = (await s.execute(select(Sar.id).where(Sar.hold_id == hold_id, Sar.status != SarStatus.CLOSED))).scalar()
    return f"subject access request {sar}" if sar is not None else None


async def protected_keys(s: AsyncSession, keep: Iterable[str], *, after: str | None,
                         limit: int) -> list[tuple[str, str]]:
    """(id, storage key) of active recordings that are held or flagged into a kept category, by id."""
    q = select(Recording.id, Recording.storage_key).where(Recording.status == RecordingStatus.ACTIVE,
                                                          or_(held(), kept_by_flag(keep)))
    if after:
        q = q.where(Recording.id > after)
    return [(rid, key) for rid, key in (await s.execute(q.order_by(Recording.id).limit(limit))).all()]


# ---- kept: reviews and case outcomes (retention/kept.py) -------------------------------------------------

async def case_holds(s: AsyncSession, hold_ids: list[str]) -> dict[str, str]:
    """{hold id: case id} of the holds that are cases' holds."""
    from service.disclosure.models import Case

    if not hold_ids:
        return {}
    return dict((await s.execute(select(Case.hold_id, Case.id).where(Case.hold_id.in_(hold_ids)))).all())


async def exhibit_cases(s: AsyncSession, recording_ids: list[str]) -> list[tuple[str, str]]:
    """(recording id, case id) for every case these recordings are exhibits of."""
    from service.disclosure.models import CaseItem

    q = select(CaseItem.recording_id, CaseItem.case_id).where(CaseItem.recording_id.in_(recording_ids)).distinct()
    return [(rid, cid) for rid, cid in (await s.execute(q)).all()]


async def current_outcomes(s: AsyncSession, case_ids: list[str]) -> dict[str, Any]:
    """{case id: its current CaseOutcome} for the decided ones."""
    from service.disclosure.models import CaseOutcome

    if not case_ids:
        return {}
    q = select(CaseOutcome).where(CaseOutcome.case_id.in_(case_ids), CaseOutcome.superseded_at.is_(None))
    return {o.case_id: o for o in (await s.execute(q)).scalars()}


async def reviews_of(s: AsyncSession, recording_ids: list[str], *, status: str | None = None) -> list[Review]:
    q = select(Review).where(Review.recording_id.in_(recording_ids))
    if status is not None:
        q = q.where(Review.status == status)
    return list((await s.execute(q.order_by(Review.created_at, Review.id)
                                 .execution_options(populate_existing=True))).scalars())


async def last_releases(s: AsyncSession, recording_ids: list[str]) -> dict[str, datetime]:
    q = (select(Review.recording_id, func.max(Review.decided_at))
         .where(Review.recording_id.in_(recording_ids), Review.status == ReviewStatus.RELEASED)
         .group_by(Review.recording_id))
    return {rid: at for rid, at in (await s.execute(q)).all() if at is not None}


async def get_review(s: AsyncSession, review_id: str, *, for_update: bool = False) -> Review | None:
    return await s.get(Review, review_id, with_for_update=for_update, populate_existing=True)


async def review_page(s: AsyncSession, *, viewer: Principal, due_before: datetime | None, status: str | None,
                      after: tuple[datetime, str] | None, limit: int) -> list[Review]:
    """Reviews of footage ``viewer`` may see, soonest first."""
    q = (select(Review).join(Recording, Recording.id == Review.recording_id)
         .where(readable_by(viewer), Recording.status == RecordingStatus.ACTIVE))
    if status is not None:
        q = q.where(Review.status == status)
    if due_before is not None:
        q = q.where(Review.review_at <= due_before)
    if after:
        at, rid = after
        q = q.where(or_(Review.review_at > at, and_(Review.review_at == at, Review.id > rid)))
    return list((await s.execute(q.order_by(Review.review_at, Review.id).limit(limit))).scalars())


async def due_reviews(s: AsyncSession, as_of: datetime, *, after: str | None, limit: int) -> list[Review]:
    """Pending reviews due at ``as_of`` of active footage, by id (the alert job's batches)."""
    q = (select(Review).join(Recording, Recording.id == Review.recording_id)
         .where(Review.status == ReviewStatus.PENDING, Review.review_at <= as_of,
                Recording.status == RecordingStatus.ACTIVE))
    if after:
        q = q.where(Review.id > after)
    return list((await s.execute(q.order_by(Review.id).limit(limit))).scalars())


async def review_counts(s: AsyncSession, now: datetime, overdue_before: datetime, *,
                        viewer: Principal | None = None) -> dict[str, int]:
    """Pending (and due, overdue among them) and decided reviews of active footage (``viewer`` may see)."""
    pending = and_(Review.status == ReviewStatus.PENDING, Recording.status == RecordingStatus.ACTIVE)
    q = (select(func.count().filter(pending),
                func.count().filter(and_(pending, Review.review_at <= now)),
                func.count().filter(and_(pending, Review.review_at <= overdue_before)),
                func.count().filter(Review.status.in_([ReviewStatus.RETAINED, ReviewStatus.RELEASED])))
         .select_from(Review).join(Recording, Recording.id == Review.recording_id))
    if viewer is not None:
        q = q.where(readable_by(viewer))
    p, d, o, dec = (await s.execute(q)).one()
    return {"pending": int(p), "due": int(d), "overdue": int(o), "decided": int(dec)}


async def remove_from_hold(s: AsyncSession, hold_id: str, recording_id: str) -> None:
    row = await s.get(HoldRecording, (hold_id, recording_id))
    if row is not None:
        await s.delete(row)
        await s.flush()


async def case_hold_id(s: AsyncSession, case_id: str) -> str | None:
    from service.disclosure.models import Case

    return (await s.execute(select(Case.hold_id).where(Case.id == case_id))).scalar()
