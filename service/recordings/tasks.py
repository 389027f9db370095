"""The media probe job: read the stored bytes with ffprobe between two short transactions (the probe can
take minutes; no row stays locked meanwhile). Then, for masters browsers cannot play, the working-copy job
and the janitor that re-queues copies a crash lost."""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import timedelta

import structlog

from service.auth.schemas import system_principal
from service.context import Context
from service.db import transaction
from service.files import file_digest, file_reader
from service.ids import new_id
from service.jobs import JobName
from service.media import probe_async
from service.media import workingcopy as media_wc
from service.media.source import media_source
from service.recordings import repository as repo
from service.recordings import service, workingcopy
from service.timeutil import utcnow

log = structlog.get_logger(__name__)


async def apply_probe(ctx: Context, recording_id: str) -> str:
    """Probe the stored media and record what it is ("readable", "unreadable" or "skipped")."""
    async with transaction(ctx.sessions) as s:
        key = await service.probe_key(s, recording_id)
    if key is None:
        return "skipped"
    source = await media_source(ctx.store, key)
    info = await probe_async(source) if source is not None else None
    async with transaction(ctx.sessions) as s:
        outcome = await service.record_probe(s, system_principal("media-probe"), recording_id, info)
    if info is not None and media_wc.needs_working_copy(info.as_dict()) and ctx.jobs is not None:
        await ctx.jobs.enqueue(JobName.MAKE_WORKING_COPY, recording_id=recording_id)
    return outcome


async def make_working_copy(ctx: Context, recording_id: str) -> str:
    """Transcode the master into an MP4 working copy, hash it and keep it beside the master ("made",
    "failed" or "skipped"). Each attempt writes its own key, so two jobs for one recording never clash."""
    actor = system_principal("working-copy")
    async with transaction(ctx.sessions) as s:
        rec = await workingcopy.to_make(s, recording_id)
    if rec is None:
        return "skipped"
    source = await media_source(ctx.store, rec.storage_key)
    with tempfile.TemporaryDirectory(prefix="bwv-wc-") as tmp:
        path = os.path.join(tmp, "working.mp4")
        try:
            if source is None:
                raise media_wc.WorkingCopyFailed("the stored master is missing")
            version = await media_wc.make_async(source, path, rec.media or {})
        except media_wc.WorkingCopyFailed as e:
            async with transaction(ctx.sessions) as s:
                await workingcopy.record_failed(s, actor, recording_id, str(e))
            return "failed"
        sha, _, size = await asyncio.to_thread(file_digest, path)
        key = f"working/{recording_id}/{new_id('wc')}.mp4"
        kind = media_wc.content_type(rec.media)
        await ctx.store.put(key, file_reader(path)(), content_type=kind)
    async with transaction(ctx.sessions) as s:
        kept = await workingcopy.record_made(s, actor, recording_id, key=key, sha256=sha, size=size,
                                             content_type=kind, ffmpeg=version)
    if not kept:
        await ctx.store.delete([key])
        return "skipped"
    return "made"


async def working_copy_janitor(ctx: Context) -> int:
    """Re-queue working copies still pending long after the recording arrived (a job lost to a crash)."""
    cutoff = utcnow() - timedelta(minutes=30)
    async with ctx.sessions() as s:
        pending = await repo.pending_working_copies(s, cutoff)
    for rid in pending:
        await ctx.jobs.enqueue(JobName.MAKE_WORKING_COPY, recording_id=rid)
    return len(pending)


JOBS = {JobName.MAKE_WORKING_COPY: make_working_copy, JobName.WORKING_COPY_JANITOR: working_copy_janitor}
CRON = [(JobName.WORKING_COPY_JANITOR, lambda settings: settings.janitor_interval_s)]
