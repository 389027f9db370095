"""Ingest jobs: media probe after completion, and the janitor for abandoned uploads and lost probes."""

from __future__ import annotations

from datetime import timedelta

from service import metrics
from service.auth.schemas import Principal, system_principal
from service.context import Context
from service.db import transaction
from service.ingest import repository as repo
from service.ingest import service
from service.jobs import JobName
from service.recordings import tasks as recordings
from service.timeutil import utcnow


async def probe_recording(ctx: Context, recording_id: str) -> str:
    return await recordings.apply_probe(ctx, recording_id)


async def abandon_stale(ctx: Context, actor: Principal) -> int:
    """Close uploads untouched for the configured time and remove their parts, one transaction each;
    then purge whatever staging an earlier run could not."""
    cutoff = utcnow() - timedelta(seconds=ctx.settings.abandon_uploads_after_s)
    count = 0
    async with ctx.sessions() as s:
        stale = [u.id for u in await repo.stale_open_uploads(s, cutoff)]
    for upload_id in stale:
        async with transaction(ctx.sessions) as s:
            leftovers = await service.abandon(s, actor, upload_id, cutoff)
        if leftovers is None:
            continue
        for key in leftovers:
            await ctx.store.discard(key)
        ctx.hashes.forget(upload_id)
        await service.purge_staging(ctx, upload_id)
        metrics.UPLOADS_ABANDONED.inc()
        count += 1
    async with ctx.sessions() as s:
        unpurged = [u.id for u in await repo.unpurged_uploads(s)]
    for upload_id in unpurged:
        await service.purge_staging(ctx, upload_id)
    return count


async def ingest_janitor(ctx: Context) -> dict[str, int]:
    abandoned = await abandon_stale(ctx, system_principal("ingest-janitor"))
    # Probes lost to a crash or a dead worker: anything still pending a while after it was received. A probe
    # queued twice runs once: the second finds nothing pending (recordings.service.probe_key).
    cutoff = utcnow() - timedelta(seconds=ctx.settings.probe_lost_after_s)
    async with ctx.sessions() as s:
        pending = await repo.pending_probes(s, cutoff)
    for rid in pending:
        await ctx.jobs.enqueue(JobName.PROBE_RECORDING, recording_id=rid)
    return {"abandoned": abandoned, "reprobed": len(pending)}


JOBS = {JobName.PROBE_RECORDING: probe_recording, JobName.INGEST_JANITOR: ingest_janitor}
CRON = [(JobName.INGEST_JANITOR, lambda settings: settings.janitor_interval_s)]
