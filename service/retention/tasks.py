"""Retention jobs: the periodic sweep and the recompute after a policy change."""

from __future__ import annotations

from service.auth.schemas import system_principal
from service.context import Context
from service.retention import service
from service.retention.sweep import sweep


async def retention_sweep(ctx: Context) -> dict[str, int]:
    report = await sweep(ctx, system_principal("retention-sweep"))
    return {"due": report.due, "deleted": report.deleted, "refused": report.refused}


async def recompute_retention(ctx: Context, policy_sha: str) -> int:
    return await service.recompute_all(ctx, system_principal("retention-policy"), policy_sha)


JOBS = {"retention_sweep": retention_sweep, "recompute_retention": recompute_retention}
CRON = [("retention_sweep", lambda settings: settings.sweep_interval_s)]
