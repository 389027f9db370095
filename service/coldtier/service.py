"""The cold tier's rules (issue 17): which footage goes cold, what a move must prove before the catalogue
says "cold", restores (asked for in a request, followed by a job), and the per-tier forecast.

A move is three steps, each a short transaction in :mod:`service.coldtier.tasks` around the storage work:
1. claim: the row records the cold key it is about to write (``other_key``) before any byte moves;
2. copy and verify (S3 hashes what it stored; local disk is read back), then swap: ``storage_key`` becomes
   the cold copy, ``other_key`` the hot original still to delete;
3. delete the hot original and clear ``other_key`` (Object Lock may refuse until its retention runs out:
   it stays accounted for and is retried on the next run).
At every instant each stored copy is named by the row, so a crash loses nothing and leaves nothing unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from service.alerts import service as alerts
from service.alerts.models import AlertKind, Severity
from service.audit import service as audit
from service.auth.roles import Role, require
from service.auth.schemas import Principal
from service.coldtier import repository as repo
from service.coldtier.schemas import TierForecast, TierMonth
from service.context import Context
from service.db import after_commit
from service.errors import Conflict
from service.jobs import JobName
from service.recordings import repository as recordings_repo
from service.recordings.access import readable
from service.recordings.models import Recording, RecordingStatus, RestoreStatus, StorageTier
from service.recordings.repository import readable_by
from service.retention.service import OVERSEERS
from service.storage.base import ObjectInfo
from service.storage.cold import RESTORED_PREFIX, cold_key
from service.timeutil import iso, utcnow

# Who may ask for footage back: whoever may watch it (what each may see is the readable statement's business).
# Footage deleted sooner than this after a move stays hot: archive classes charge at least this long
# (S3 Glacier Flexible Retrieval 90 days, Deep Archive 180), and it would go before anyone saved anything.
MIN_COLD_STAY = timedelta(days=90)
RESTORERS = (Role.OFFICER, Role.SUPERVISOR, Role.DISCLOSURE, Role.SAR_HANDLER, Role.AUDITOR, Role.ADMIN)


@dataclass(frozen=True)
class MoveItem:
    recording_id: str
    src: str
    dst: str
    sha256: str
    size: int


def captured_before(ctx: Context, as_of: datetime) -> datetime | None:
    days = ctx.policies.retention.cold_after_days
    return None if days is None else as_of - timedelta(days=days)


# ---- moving ------------------------------------------------------------------------------------------

async def claim_moves(s: AsyncSession, ctx: Context, as_of: datetime, limit: int) -> list[MoveItem]:
    """Claim up to ``limit`` recordings due to go cold and record, before any byte moves, the cold key each
    will be copied to."""
    before = captured_before(ctx, as_of)
    if before is None:
        return []
    rows = await repo.claim_for_move(s, captured_before=before, kept_past=as_of + MIN_COLD_STAY, limit=limit)
    for r in rows:
        r.other_key, r.other_version = cold_key(r.storage_key), None
    return [MoveItem(r.id, r.storage_key, r.other_key, r.sha256, r.size_bytes) for r in rows]


async def finish_moves(s: AsyncSession, actor: Principal, ctx: Context,
                       copied: list[tuple[MoveItem, ObjectInfo]]) -> set[str]:
    """Each verified cold copy becomes its recording's copy of record; the hot original becomes the second
    copy to delete. Returns the ids swapped: a row that moved on meanwhile (a sweep deleted it, another mover
    finished it) is left alone, and the caller removes the copy it made unless the row has it."""
    recs = await recordings_repo.by_ids_for_update(s, [item.recording_id for item, _ in copied])
    swapped, events = set(), []
    verified_by = "S3 SHA-256 checksum of the stored copy" if ctx.cold.archive else "read back and hashed"
    for item, info in copied:
        r = recs.get(item.recording_id)
        if (r is None or r.status != RecordingStatus.ACTIVE or r.storage_tier != StorageTier.HOT
                or r.other_key != item.dst):
            continue
        hot_key, hot_version = r.storage_key, r.storage_version
        r.storage_key, r.storage_version = item.dst, info.version
        r.other_key, r.other_version = hot_key, hot_version
        r.storage_tier, r.restore_status, r.restored_until = StorageTier.COLD, RestoreStatus.NONE, None
        swapped.add(r.id)
        events.append(("recording.moved_to_cold", "recording", r.id,
                       {"sha256": r.sha256, "size_bytes": r.size_bytes, "from_key": hot_key, "to_key": item.dst,
                        "storage_class": ctx.cold.storage_class, "verified_by": verified_by, "result": "match"}))
    await audit.record_many(s, actor, events)
    return swapped


async def move_failed(s: AsyncSession, actor: Principal, item: MoveItem, error: str, *, copy_gone: bool) -> None:
    """A move that could not be verified keeps the footage hot. When its copy is known gone the claim is
    released; otherwise the row keeps naming it, and the next run finishes or redoes the move."""
    r = await recordings_repo.get(s, item.recording_id, for_update=True)
    if r is None:
        return
    if copy_gone and r.storage_tier == StorageTier.HOT and r.other_key == item.dst:
        r.other_key, r.other_version = None, None
    await audit.record(s, actor, "recording.cold_move_failed", "recording", r.id,
                       {"to_key": item.dst, "error": error[:1000], "kept": "hot"})
    await alerts.raise_alert(s, AlertKind.COLD_MOVE_FAILED, "recording", r.id,
                             f"Moving {r.id} to cold storage failed ({error[:300]}); it stays on hot storage.",
                             severity=Severity.CRITICAL if "hash" in error else Severity.WARNING)


async def second_copy_removed(s: AsyncSession, actor: Principal, recording_id: str, key: str) -> None:
    r = await recordings_repo.get(s, recording_id, for_update=True)
    if r is None or r.other_key != key:
        return
    r.other_key, r.other_version = None, None
    what = ("recording.restored_copy_removed" if key.startswith(RESTORED_PREFIX)
            else "recording.cold_copy_removed" if r.storage_tier == StorageTier.HOT or r.status != "active"
            else "recording.hot_copy_removed")
    await audit.record(s, actor, what, "recording", r.id, {"key": key})


# ---- restores ----------------------------------------------------------------------------------------

async def _ask(s: AsyncSession, actor: Principal, ctx: Context, r: Recording, why: dict) -> None:
    already = r.restore_status
    if already == RestoreStatus.NONE:
        r.restore_status, r.restore_requested_at, r.restored_until = RestoreStatus.REQUESTED, utcnow(), None
    await audit.record(s, actor, "recording.restore_requested", "recording", r.id,
                       {**why, "already": None if already == RestoreStatus.NONE else already,
                        "days": ctx.settings.cold_restore_days, "tier": ctx.settings.cold_restore_tier})
    if not s.info.get("cold_poll_enqueued"):  # one poll follows the transaction, however many it asked
        s.info["cold_poll_enqueued"] = True

        async def poll() -> None:
            s.info.pop("cold_poll_enqueued", None)
            await ctx.jobs.enqueue(JobName.POLL_COLD_RESTORES)

        after_commit(s, poll)


async def request_restore(s: AsyncSession, actor: Principal, ctx: Context, recording_id: str) -> Recording:
    """Ask for a cold recording back. The request only records it (audited, every time); the poll job asks
    storage and follows it, since on archive storage it takes hours."""
    require(actor, RESTORERS)
    r = await readable(s, actor, recording_id, for_update=True)
    if r.storage_tier != StorageTier.COLD:
        raise Conflict(f"Recording {r.id} is on hot storage; it can be read now.", slug="not-in-cold-storage",
                       title="Not in cold storage")
    await _ask(s, actor, ctx, r, {"user_agent": actor.user_agent})
    return r


async def request_restores(s: AsyncSession, actor: Principal, ctx: Context, recording_ids: list[str],
                           why: dict) -> None:
    """Work that needs cold recordings (a bundle) asks for them back, in its actor's name."""
    recs = await recordings_repo.by_ids(s, recording_ids)
    for rid in sorted(recs):
        r = recs[rid]
        if r.storage_tier == StorageTier.COLD and r.restore_status != RestoreStatus.READY:
            await _ask(s, actor, ctx, r, why)


async def restore_ready(s: AsyncSession, actor: Principal, recording_id: str, until: datetime,
                        copy: ObjectInfo | None = None) -> None:
    r = await recordings_repo.get(s, recording_id, for_update=True)
    if r is None or r.storage_tier != StorageTier.COLD or r.restore_status != RestoreStatus.REQUESTED:
        return
    r.restore_status, r.restored_until = RestoreStatus.READY, until
    if copy is not None:
        r.other_key, r.other_version = copy.key, copy.version
    await audit.record(s, actor, "recording.restored", "recording", r.id,
                       {"until": iso(until), "copy": copy.key if copy else r.storage_key,
                        "waited_s": round((utcnow() - r.restore_requested_at).total_seconds())
                        if r.restore_requested_at else None})


async def restore_expired(s: AsyncSession, actor: Principal, recording_id: str) -> None:
    r = await recordings_repo.get(s, recording_id, for_update=True)
    if r is None or r.restore_status != RestoreStatus.READY:
        return
    r.restore_status, r.restored_until, r.restore_requested_at = RestoreStatus.NONE, None, None
    if r.other_key and r.other_key.startswith(RESTORED_PREFIX):
        r.other_key, r.other_version = None, None
    await audit.record(s, actor, "recording.restore_expired", "recording", r.id, {})


# ---- forecast ----------------------------------------------------------------------------------------

def _month_ends(now: datetime, months: int) -> list[datetime]:
    out, y, m = [], now.year, now.month
    for _ in range(months):
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        out.append(now.replace(year=y, month=m, day=1, hour=0, minute=0, second=0, microsecond=0))
    return out


async def tier_forecast(s: AsyncSession, actor: Principal, ctx: Context, months: int) -> TierForecast:
    require(actor, OVERSEERS)
    now = utcnow()
    points = _month_ends(now, months)
    # Restricted footage not opened to the caller is in no count of theirs, bytes included (as the forecast).
    rows = await repo.tier_forecast(s, points, ctx.policies.retention.cold_after_days, MIN_COLD_STAY,
                                    readable_by(actor))
    return TierForecast(as_of=now, cold_after_days=ctx.policies.retention.cold_after_days,
                        storage_class=ctx.cold.storage_class,
                        months=[TierMonth(at=t, **row) for t, row in zip(points, rows, strict=True)])
