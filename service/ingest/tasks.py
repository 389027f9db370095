"""Ingest jobs: media probe after completion, and the janitor for abandoned uploads and lost probes."""

from __future__ import annotations

from datetime import timedelta

from service.auth.schemas import system_principal
from service.context import Context
from service.ingest import repository as repo
from service.ingest import service
from service.jobs import JobName
from service.recordings import tasks as recordings
from service.timeutil import utcnow


async def probe_recording(ctx: Context, recording_id: str) -> str:
    return await recordings.apply_probe(ctx, recording_id)


async def ingest_janitor(ctx: Context) -> dict[str, int]:
    abandoned = await service.abandon_stale(ctx, system_principal("ingest-janitor"))
    # Probes lost to a crash or a dead worker: anything still pending a while after it was received.
    cutoff = utcnow() - timedelta(minutes=10)
    async with ctx.sessions() as s:
        pending = await repo.pending_probes(s, cutoff)
    for rid in pending:
        await ctx.jobs.enqueue(JobName.PROBE_RECORDING, recording_id=rid)
    return {"abandoned": abandoned, "reprobed": len(pending)}


JOBS = {JobName.PROBE_RECORDING: probe_recording, JobName.INGEST_JANITOR: ingest_janitor}
CRON = [(JobName.INGEST_JANITOR, lambda settings: settings.janitor_interval_s)]
