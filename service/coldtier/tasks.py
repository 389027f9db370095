"""Cold tier jobs: MOVE_TO_COLD (periodic: finish what a crash left, then move what is due) and
POLL_COLD_RESTORES (periodic and after every restore request: ask storage, follow restores, expire them,
and send waiting bundles on their way). Each is an edge: short transactions around the storage work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import structlog

from service.audit import service as audit
from service.auth.schemas import system_principal
from service.coldtier import repository as repo
from service.coldtier import service
from service.coldtier.access import readable_now
from service.coldtier.schemas import MoveReport
from service.context import Context
from service.db import transaction
from service.disclosure import repository as disclosure_repo
from service.disclosure.models import BundleStatus
from service.jobs import JobName
from service.recordings import repository as recordings_repo
from service.recordings.models import Recording, RecordingStatus, RestoreStatus, StorageTier
from service.retention.sweep import check_as_of
from service.storage.base import ObjectInfo, StorageError
from service.storage.cold import RESTORED_PREFIX, ColdCopyMismatch
from service.timeutil import parse_time, utcnow

log = structlog.get_logger(__name__)
MOVER = system_principal("cold-tier")
BUNDLER = system_principal("bundle-builder")  # the bundle's own actor (disclosure.tasks.BUILDER)
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
        await _move_batch(ctx, items, report)
        log.info("cold_move_progress", moved=report.moved, failed=report.failed, bytes=report.bytes)
    log.info("cold_move_done", **report.model_dump())
    return report.model_dump()


async def _move_batch(ctx: Context, items: list[service.MoveItem], report: MoveReport, *,
                      resumed: bool = False) -> None:
    """Copy and verify each claimed item, then swap the verified ones in one transaction, then delete their
    hot originals (one DeleteObjects) and record that in one more. A crash anywhere leaves rows that name
    every copy; the next run's :func:`_settle_second_copies` finishes the job."""
    cold = ctx.cold
    copied: list[tuple[service.MoveItem, ObjectInfo]] = []
    held: set[str] = set()
    for item in items:
        try:
            # Only a resumed move can find its copy already there (a crash after the copy).
            info = (await cold.verified(item.dst, item.sha256) if resumed else None) \
                or await cold.copy_in(item.src, item.dst, item.sha256, item.size)
            if await cold.carry_lock(item.src, item.dst):
                held.add(item.recording_id)
        except ColdCopyMismatch as e:
            log.error("cold_move_failed", recording_id=item.recording_id, error=str(e))
            report.failed += 1
            async with transaction(ctx.sessions) as s:
                await service.move_failed(s, MOVER, item, f"hash mismatch: {e}", copy_gone=True)
            continue
        except (StorageError, OSError) as e:
            log.error("cold_move_failed", recording_id=item.recording_id, error=str(e))
            report.failed += 1  # the row still names the target: the next run finishes or redoes it
            async with transaction(ctx.sessions) as s:
                await service.move_failed(s, MOVER, item, str(e), copy_gone=False)
            continue
        copied.append((item, info))
    if not copied:
        return
    async with transaction(ctx.sessions) as s:
        swapped = await service.finish_moves(s, MOVER, ctx, copied)
    for item, info in copied:
        if item.recording_id in swapped:
            report.moved += 1
            report.bytes += item.size
            continue
        # The row moved on while we copied (swept, or finished by another mover): our copy is not its.
        r = await _row(ctx, item.recording_id)
        if r is None or (r.storage_key != item.dst and r.other_key != item.dst):
            await cold.store.delete([item.dst], {item.dst: info.version} if info.version else None)
    await _remove_second_copies(ctx, sorted(swapped), report, lift=held)


async def _row(ctx: Context, recording_id: str) -> Recording | None:
    async with ctx.sessions() as s:
        return await recordings_repo.get(s, recording_id)


async def _remove_second_copies(ctx: Context, ids: list[str], report: MoveReport, *,
                                lift: set[str] | None = None) -> None:
    """Delete the copies ``other_key`` names for these rows. The hot original of protected footage carries
    a legal hold (lifted here, for ``lift`` or when None every one: the cold copy has its own) and COMPLIANCE
    retention (nobody can lift it): storage then refuses, the row keeps naming it, and a later run retries
    once the retention has run out."""
    if not ids:
        return
    async with ctx.sessions() as s:
        rows = [r for r in (await recordings_repo.by_ids(s, ids)).values() if r.other_key]
    by_store: dict[int, tuple] = {}
    for r in rows:
        store = ctx.cold.other_store(r.storage_tier)
        if lift is None or r.id in lift:
            try:
                await store.set_legal_hold(r.other_key, False)
            except StorageError:
                pass  # gone already, or no hold: the delete says what matters
        entry = by_store.setdefault(id(store), (store, [], {}))
        entry[1].append(r.other_key)
        if r.other_version:
            entry[2][r.other_key] = r.other_version
    failed: set[str] = set()
    for store, keys, versions in by_store.values():
        failed.update(await store.delete(keys, versions))
    done = [(r.id, r.other_key) for r in rows if r.other_key not in failed]
    report.hot_copies_kept_by_lock += len(rows) - len(done)
    if done:
        async with transaction(ctx.sessions) as s:
            for rid, key in done:
                await service.second_copy_removed(s, MOVER, rid, key)
        report.hot_copies_removed += len(done)


async def _pages(ctx: Context, fetch) -> AsyncIterator[list]:
    """Rows page by page (keyset on id), each page read in a short session of its own, so the work on a
    page (storage calls) never holds a transaction open."""
    after = None
    while True:
        async with ctx.sessions() as s:
            rows = await fetch(s, after=after, limit=PAGE)
        if not rows:
            return
        after = rows[-1].id
        yield rows


async def _settle_second_copies(ctx: Context, report: MoveReport) -> None:
    """What a crash (or Object Lock) left: moves claimed but not swapped are finished, hot originals of
    cold footage and copies of deleted footage are removed. Local restored copies in use are left alone."""
    async for rows in _pages(ctx, repo.with_second_copy):
        resume = [service.MoveItem(r.id, r.storage_key, r.other_key, r.sha256, r.size_bytes) for r in rows
                  if r.status == RecordingStatus.ACTIVE and r.storage_tier == StorageTier.HOT]
        if resume:
            report.resumed += len(resume)
            await _move_batch(ctx, resume, report, resumed=True)
        leftovers = [r.id for r in rows
                     if not (r.status == RecordingStatus.ACTIVE and r.storage_tier == StorageTier.HOT)
                     # a local restore's copy in use: the restore poll removes it when it expires
                     and not (r.other_key.startswith(RESTORED_PREFIX) and r.status == RecordingStatus.ACTIVE)
                     and r.status != RecordingStatus.DELETING]  # the sweep has those
        await _remove_second_copies(ctx, leftovers, report)


async def poll_cold_restores(ctx: Context) -> dict[str, int]:
    """Ask storage for the restores requested, record the ones that are ready, expire the old ones, and
    queue the bundles that were waiting for them."""
    cold = ctx.cold
    now = utcnow()
    days = ctx.settings.cold_restore_days
    asked = ready = expired = 0
    async for rows in _pages(ctx, repo.open_restores):
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
                        await _remove_second_copies(ctx, [r.id], MoveReport())
                    copy = await cold.copy_back(r.storage_key, r.sha256)
                    asked += 1
                    async with transaction(ctx.sessions) as s:
                        await service.restore_ready(s, MOVER, r.id, now + timedelta(days=days), copy)
                    ready += 1
            except (StorageError, OSError) as e:
                log.error("cold_restore_poll_failed", recording_id=r.id, error=str(e))
    resumed = await resume_waiting(ctx)
    return {"asked": asked, "ready": ready, "expired": expired, "bundles_resumed": resumed}


async def wait_for_restore(ctx: Context, bundle_id: str, recording_ids: list[str], subject: tuple[str, str]) -> None:
    """A bundle build found sources in cold storage: ask for them back and let the bundle wait (not an attempt,
    not a failure); :func:`resume_waiting` queues it again once every source is readable."""
    async with transaction(ctx.sessions) as s:
        b = await disclosure_repo.get_bundle(s, bundle_id, for_update=True)
        b.status, b.attempts, b.updated_at, b.error = BundleStatus.WAITING, max(0, b.attempts - 1), utcnow(), None
        await service.request_restores(s, BUNDLER, ctx, recording_ids, {"bundle_id": bundle_id})
        await audit.record(s, BUNDLER, "bundle.waiting", *subject,
                           {"bundle_id": bundle_id, "waiting_for": recording_ids, "why": "in cold storage"})


async def resume_waiting(ctx: Context) -> int:
    """Queue again every waiting bundle whose sources are all readable now; ask again for any source whose
    restore lapsed before the bundle got to it."""
    queued = []
    async with transaction(ctx.sessions) as s:
        for b in await disclosure_repo.waiting_bundles(s):
            ids = [i.recording_id for i in await disclosure_repo.items(s, b.case_id)] if b.case_id else []
            recs = await recordings_repo.by_ids(s, ids)
            cold = [r.id for r in recs.values() if not readable_now(r)]
            if cold:
                await service.request_restores(s, BUNDLER, ctx, cold, {"bundle_id": b.id})
                continue
            b.status, b.updated_at = BundleStatus.QUEUED, utcnow()
            queued.append(b.id)
    for bundle_id in queued:
        await ctx.jobs.enqueue(JobName.BUILD_BUNDLE, bundle_id=bundle_id)
    return len(queued)


def _interval_move(settings) -> int:
    return settings.cold_move_interval_s


def _interval_poll(settings) -> int:
    return settings.cold_restore_poll_interval_s


JOBS = {JobName.MOVE_TO_COLD: move_to_cold, JobName.POLL_COLD_RESTORES: poll_cold_restores}
CRON = [(JobName.MOVE_TO_COLD, _interval_move), (JobName.POLL_COLD_RESTORES, _interval_poll)]
