"""Cold tier jobs: MOVE_TO_COLD (periodic: finish what a crash left, then move what is due) and
POLL_COLD_RESTORES (periodic and after every restore request: ask storage, follow restores, expire them,
and send waiting bundles on their way). Each is an edge: short transactions around the storage work."""

from __future__ import annotations

from datetime import timedelta

import structlog

from service.auth.schemas import system_principal
from service.coldtier import repository as repo
from service.coldtier import service
from service.coldtier.schemas import MoveReport
from service.context import Context
from service.db import transaction
from service.disclosure import tasks as disclosure_tasks
from service.jobs import JobName
from service.recordings import repository as recordings_repo
from service.recordings.models import Recording, RecordingStatus, RestoreStatus, StorageTier
from service.retention.sweep import check_as_of
from service.storage.base import StorageError
from service.storage.cold import RESTORED_PREFIX, ColdCopyMismatch
from service.timeutil import parse_time, utcnow

log = structlog.get_logger(__name__)
MOVER = system_principal("cold-tier")
BATCH = 100
PAGE = 500


async def move_to_cold(ctx: Context, as_of: str | None = None, batch: int = BATCH,
                       limit: int | None = None) -> dict[str, int]:
    """Move kept footage captured more than ``cold_after_days`` ago (as of ``as_of``: a test or training
    system's later clock, with BWV_ALLOW_CLOCK_OVERRIDE) to cold storage, at most ``limit`` recordings."""
    when = check_as_of(ctx, parse_time(as_of, "as_of") if as_of else None)
    report = MoveReport()
    await _settle_second_copies(ctx, report)
    while limit is None or report.moved + report.failed < limit:
        take = batch if limit is None else min(batch, limit - report.moved - report.failed)
        async with transaction(ctx.sessions) as s:
            items = await service.claim_moves(s, ctx, when, take)
        if not items:
            break
        for item in items:
            await _move(ctx, item, report)
        log.info("cold_move_progress", moved=report.moved, failed=report.failed, bytes=report.bytes)
    log.info("cold_move_done", **report.model_dump())
    return report.model_dump()


async def _move(ctx: Context, item: service.MoveItem, report: MoveReport) -> None:
    cold = ctx.cold
    try:
        info = await cold.verified(item.dst, item.sha256) or await cold.copy_in(item.src, item.dst, item.sha256,
                                                                                 item.size)
        await cold.carry_lock(item.src, item.dst)
    except ColdCopyMismatch as e:
        log.error("cold_move_failed", recording_id=item.recording_id, error=str(e))
        report.failed += 1
        async with transaction(ctx.sessions) as s:
            await service.move_failed(s, MOVER, item, f"hash mismatch: {e}", copy_gone=True)
        return
    except (StorageError, OSError) as e:
        log.error("cold_move_failed", recording_id=item.recording_id, error=str(e))
        report.failed += 1  # the row still names the target: the next run finishes or redoes it
        async with transaction(ctx.sessions) as s:
            await service.move_failed(s, MOVER, item, str(e), copy_gone=False)
        return
    async with transaction(ctx.sessions) as s:
        swapped = await service.finish_move(s, MOVER, ctx, item, info)
    if not swapped:
        # The row moved on while we copied (swept, or finished by another mover): our copy is not its.
        r = await _row(ctx, item.recording_id)
        if r is None or (r.storage_key != item.dst and r.other_key != item.dst):
            await cold.store.delete([item.dst], {item.dst: info.version} if info.version else None)
        return
    report.moved += 1
    report.bytes += item.size
    await _remove_second_copy(ctx, item.recording_id, item.src, report)


async def _row(ctx: Context, recording_id: str) -> Recording | None:
    async with ctx.sessions() as s:
        return await recordings_repo.get(s, recording_id)


async def _remove_second_copy(ctx: Context, recording_id: str, key: str, report: MoveReport) -> None:
    """Delete the copy ``other_key`` names. The hot original of protected footage carries a legal hold
    (lifted here: the cold copy has its own) and COMPLIANCE retention (nobody can lift it): storage then
    refuses, the row keeps naming it, and a later run retries once the retention has run out."""
    r = await _row(ctx, recording_id)
    if r is None or r.other_key != key:
        return
    store = ctx.cold.other_store(r.storage_tier)
    try:
        await store.set_legal_hold(key, False)
    except StorageError:
        pass  # gone already, or no hold: the delete says what matters
    failed = await store.delete([key], {key: r.other_version} if r.other_version else None)
    if failed:
        report.hot_copies_kept_by_lock += 1
        return
    async with transaction(ctx.sessions) as s:
        await service.second_copy_removed(s, MOVER, recording_id, key)
    report.hot_copies_removed += 1


async def _settle_second_copies(ctx: Context, report: MoveReport) -> None:
    """What a crash (or Object Lock) left: moves claimed but not swapped are finished, hot originals of
    cold footage and copies of deleted footage are removed. Local restored copies in use are left alone."""
    after = None
    while True:
        async with ctx.sessions() as s:
            rows = await repo.with_second_copy(s, after=after, limit=PAGE)
        if not rows:
            return
        after = rows[-1].id
        for r in rows:
            if r.status == RecordingStatus.ACTIVE and r.storage_tier == StorageTier.HOT:
                async with ctx.sessions() as s:
                    item = await service.unfinished_move(s, r.id)
                if item is not None:
                    report.resumed += 1
                    await _move(ctx, item, report)
                continue
            if r.other_key.startswith(RESTORED_PREFIX) and r.status == RecordingStatus.ACTIVE:
                continue  # a local restore's copy: the restore poll removes it when it expires
            if r.status == RecordingStatus.DELETING:
                continue  # the sweep has it
            await _remove_second_copy(ctx, r.id, r.other_key, report)


async def poll_cold_restores(ctx: Context) -> dict[str, int]:
    """Ask storage for the restores requested, record the ones that are ready, expire the old ones, and
    queue the bundles that were waiting for them."""
    cold = ctx.cold
    now = utcnow()
    days = ctx.settings.cold_restore_days
    asked = ready = expired = 0
    after = None
    while True:
        async with ctx.sessions() as s:
            rows = await repo.open_restores(s, after=after, limit=PAGE)
        if not rows:
            break
        after = rows[-1].id
        for r in rows:
            try:
                if r.restore_status == RestoreStatus.READY:
                    if r.restored_until is not None and r.restored_until <= now:
                        if not cold.archive and r.other_key and r.other_key.startswith(RESTORED_PREFIX):
                            await ctx.store.delete([r.other_key])
                        async with transaction(ctx.sessions) as s:
                            await service.restore_expired(s, MOVER, r.id)
                        expired += 1
                    continue
                if cold.archive:
                    state = await cold.restore_state(r.storage_key)
                    if not state.requested:
                        await cold.request_restore(r.storage_key, days, ctx.settings.cold_restore_tier)
                        asked += 1
                        state = await cold.restore_state(r.storage_key)
                    if state.ready:
                        until = state.until or now + timedelta(days=days)
                        async with transaction(ctx.sessions) as s:
                            await service.restore_ready(s, MOVER, r.id, until)
                        ready += 1
                else:
                    if r.other_key and not r.other_key.startswith(RESTORED_PREFIX):
                        await _remove_second_copy(ctx, r.id, r.other_key, MoveReport())
                    copy = await cold.copy_back(r.storage_key, r.sha256)
                    asked += 1
                    async with transaction(ctx.sessions) as s:
                        await service.restore_ready(s, MOVER, r.id, now + timedelta(days=days), copy)
                    ready += 1
            except (StorageError, OSError) as e:
                log.error("cold_restore_poll_failed", recording_id=r.id, error=str(e))
    resumed = await disclosure_tasks.resume_waiting(ctx)
    return {"asked": asked, "ready": ready, "expired": expired, "bundles_resumed": resumed}


def _interval_move(settings) -> int:
    return settings.cold_move_interval_s


def _interval_poll(settings) -> int:
    return settings.cold_restore_poll_interval_s


JOBS = {JobName.MOVE_TO_COLD: move_to_cold, JobName.POLL_COLD_RESTORES: poll_cold_restores}
CRON = [(JobName.MOVE_TO_COLD, _interval_move), (JobName.POLL_COLD_RESTORES, _interval_poll)]
