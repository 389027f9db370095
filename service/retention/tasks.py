"""Retention jobs: the periodic sweep and the recompute after a policy change."""

from __future__ import annotations

from service.auth.schemas import system_principal
from service.context import Context
from service.jobs import JobName
from service.retention import objectlock, service
from service.retention.sweep import sweep


async def retention_sweep(ctx: Context) -> dict[str, int]:
    report = await sweep(ctx, system_principal("retention-sweep"))
    return {"due": report.due, "deleted": report.deleted, "refused": report.refused}


async def recompute_retention(ctx: Context, policy_sha: str) -> int:
    return await service.recompute_all(ctx, system_principal("retention-policy"), policy_sha)


async def roll_object_lock(ctx: Context) -> int:
    return await objectlock.roll_forward(ctx)


JOBS = {JobName.RETENTION_SWEEP: retention_sweep, JobName.RECOMPUTE_RETENTION: recompute_retention,
        JobName.ROLL_OBJECT_LOCK: roll_object_lock}
CRON = [(JobName.RETENTION_SWEEP, lambda settings: settings.sweep_interval_s),
        (JobName.ROLL_OBJECT_LOCK, lambda settings: settings.object_lock_roll_interval_s)]
