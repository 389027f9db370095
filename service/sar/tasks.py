"""SAR jobs: build a disclosure's bundle; redact an item; find an item's faces; re-queue redactions and
face scans a dead worker left behind; deadline alerts.

This is the jobs' edge: each step of a redaction or a face scan is a transaction of its own here (claim
queued -> running, progress, then ready or failed: the shared job-row state machine,
:mod:`service.jobrows.service`), with the media work between them outside any transaction; the steps
themselves are the services' (:mod:`service.sar.redaction`, :mod:`service.sar.faces`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from service.context import Context
from service.db import transaction
from service.jobs import JobName
from service.sar import disclose, faces, redaction, service
from service.timeutil import utcnow

Report = Callable[[AsyncSession, str, str | None, float], Awaitable[bool]]


async def _progress(ctx: Context, report: Report, every_s: float, item_id: str, run: str,
                    latest: list[float]) -> None:
    """Writes ``latest[0]`` every ``every_s`` while it moves, until the run is no longer the one running."""
    written = -1.0
    while True:
        await asyncio.sleep(every_s)
        value = latest[0]
        if value - written < 0.01:
            continue
        async with transaction(ctx.sessions) as s:
            if not await report(s, item_id, run, value):
                return
        written = value


async def redact_sar_item(ctx: Context, item_id: str, run: str) -> str:
    async with transaction(ctx.sessions) as s:
        claimed = await redaction.claim(s, item_id, run)
    if claimed is None:
        return "skipped"
    item, rec = claimed
    try:
        done = await redaction.produce(ctx, item, rec, run, lambda latest: _progress(
            ctx, redaction.REDACTIONS.report, redaction.PROGRESS_EVERY_S, item.id, run, latest))
    except Exception as e:
        async with transaction(ctx.sessions) as s:
            await redaction.REDACTIONS.fail(s, item.id, run, e)
        raise
    entry = redaction.log_entry(item, run, done)
    async with transaction(ctx.sessions) as s:
        current = await redaction.finish(s, item, run, done, entry)
    if not current:
        await ctx.store.delete([done.key])
        return "superseded"
    return "ready"


async def find_sar_item_faces(ctx: Context, item_id: str, run: str) -> str:
    async with transaction(ctx.sessions) as s:
        job = await faces.claim(s, item_id, run)
    if job is None:
        return "skipped"
    keys: list[str] = []
    try:
        found, rows = await faces.find(ctx, job, keys, lambda latest: _progress(
            ctx, faces.FACE_SCANS.report, faces.PROGRESS_EVERY_S, item_id, run, latest))
    except Exception as e:
        await ctx.store.delete(keys) if keys else None
        async with transaction(ctx.sessions) as s:
            await faces.FACE_SCANS.fail(s, item_id, run, e)
        raise
    async with transaction(ctx.sessions) as s:
        old = await faces.finish(s, job, found, rows)
    if old is None:
        await ctx.store.delete(keys) if keys else None
        return "superseded"
    if old:
        await ctx.store.delete(old)
    return "ready"


async def requeue_stuck_redactions(ctx: Context, older_than: timedelta = timedelta(minutes=30)) -> int:
    """Redactions a dead worker left queued or running are queued again (failed after MAX_ATTEMPTS)."""
    async with transaction(ctx.sessions) as s:
        return await redaction.REDACTIONS.requeue_stuck(s, ctx, utcnow() - older_than)


async def requeue_stuck_faces(ctx: Context, older_than: timedelta = timedelta(minutes=30)) -> int:
    """Face scans a dead worker left queued or running are queued again (failed after MAX_ATTEMPTS)."""
    async with transaction(ctx.sessions) as s:
        return await faces.FACE_SCANS.requeue_stuck(s, ctx, utcnow() - older_than)


async def sar_janitor(ctx: Context) -> int:
    return await requeue_stuck_redactions(ctx) + await requeue_stuck_faces(ctx)


async def sar_deadlines(ctx: Context) -> dict[str, int]:
    async with transaction(ctx.sessions) as s:
        return await service.check_deadlines(s, ctx)


JOBS = {JobName.BUILD_SAR_BUNDLE: disclose.build_sar_bundle, JobName.REDACT_SAR_ITEM: redact_sar_item,
        JobName.FIND_SAR_ITEM_FACES: find_sar_item_faces, JobName.SAR_JANITOR: sar_janitor, JobName.SAR_DEADLINES: sar_deadlines}
CRON = [(JobName.SAR_JANITOR, lambda settings: settings.janitor_interval_s),
        (JobName.SAR_DEADLINES, lambda settings: settings.sar_deadline_interval_s)]
