"""Retention jobs: the periodic sweep, the recompute after a policy change, and the Object Lock roll.
Each is an edge: it opens its transactions (one per batch, so a long job holds no lock for long)."""

from __future__ import annotations

import structlog

from service.auth.schemas import system_principal
from service.context import Context
from service.db import transaction
from service.jobs import JobName
from service.retention import objectlock, reviews, service
from service.retention.sweep import sweep
from service.timeutil import utcnow

log = structlog.get_logger(__name__)


async def retention_sweep(ctx: Context) -> dict[str, int]:
    report = await sweep(ctx, system_principal("retention-sweep"))
    return {"due": report.due, "deleted": report.deleted, "refused": report.refused}


async def recompute_retention(ctx: Context, policy_sha: str, batch: int = 1000) -> int:
    after, done = None, 0
    while True:
        async with transaction(ctx.sessions) as s:
            ids = await service.recompute_batch(s, ctx, after, batch)
        if not ids:
            break
        after, done = ids[-1], done + len(ids)
        log.info("retention_recompute_progress", policy=policy_sha[:12], recordings=done)
    async with transaction(ctx.sessions) as s:
        await service.recomputed(s, system_principal("retention-policy"), policy_sha, done)
    return done


async def roll_object_lock(ctx: Context) -> int:
    return await objectlock.roll_forward(ctx)


async def retention_reviews(ctx: Context, batch: int = 500) -> int:
    """Alert supervisors to every due review (one open alert per review, counted); never deletes."""
    after, due, as_of = None, 0, utcnow()
    while True:
        async with transaction(ctx.sessions) as s:
            rows = await reviews.alert_due(s, ctx, as_of, after=after, batch=batch)
        if not rows:
            break
        after, due = rows[-1].id, due + len(rows)
        log.info("retention_reviews_progress", due=due)
    return due


JOBS = {JobName.RETENTION_SWEEP: retention_sweep, JobName.RECOMPUTE_RETENTION: recompute_retention,
        JobName.ROLL_OBJECT_LOCK: roll_object_lock, JobName.RETENTION_REVIEWS: retention_reviews}
CRON = [(JobName.RETENTION_SWEEP, lambda settings: settings.sweep_interval_s),
        (JobName.ROLL_OBJECT_LOCK, lambda settings: settings.object_lock_roll_interval_s),
        (JobName.RETENTION_REVIEWS, lambda settings: settings.review_check_interval_s)]
