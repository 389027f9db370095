"""Disclosure jobs: build a bundle; re-queue bundles a dead worker left half-built."""

from __future__ import annotations

from service.context import Context
from service.disclosure import bundles
from service.jobs import JobName


async def build_bundle(ctx: Context, bundle_id: str) -> str:
    return await bundles.build(ctx, bundle_id)


async def bundle_janitor(ctx: Context) -> int:
    return await bundles.requeue_stuck(ctx)


JOBS = {JobName.BUILD_BUNDLE: build_bundle, JobName.BUNDLE_JANITOR: bundle_janitor}
CRON = [(JobName.BUNDLE_JANITOR, lambda settings: settings.janitor_interval_s)]
