"""Disclosure jobs: build a bundle (a case's, or through :func:`build` a subject access request's); re-queue
bundles a dead worker left half-built.

A build runs in steps, each its own transaction: claim (queued -> building), progress, audit, then ready
or failed. Only a ``ready`` bundle is ever served; a worker killed mid-build leaves it ``building``, and
the janitor re-queues it (three attempts, then ``failed``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from datetime import timedelta

from service.alerts import service as alerts
from service.alerts.models import AlertKind, Severity
from service.audit import service as audit
from service.auth.schemas import system_principal
from service.coldtier import tasks as coldtier_tasks
from service.coldtier.access import AwaitingRestore
from service.context import Context
from service.db import transaction
from service.disclosure import bundles
from service.disclosure import repository as repo
from service.disclosure.bundles import BuildFailed, Steps
from service.disclosure.models import Bundle, BundleStatus
from service.disclosure.zipstream import Member, zip_to_store
from service.jobs import JobName
from service.timeutil import utcnow

MAX_ATTEMPTS = 3
BUILDER = system_principal("bundle-builder")
Members = Callable[[Context, Bundle, str, Steps], Awaitable[tuple[list[Member], int]]]


def _job(bundle: Bundle) -> JobName:
    return JobName.BUILD_SAR_BUNDLE if bundle.sar_id else JobName.BUILD_BUNDLE


async def build(ctx: Context, bundle_id: str, members: Members, *, sar: bool = False) -> str:
    """Build one bundle with *members* (what goes into its ZIP), if it is queued and of this kind."""
    async with transaction(ctx.sessions) as s:
        bundle = await repo.get_bundle(s, bundle_id, for_update=True)
        # Only a queued bundle is claimed: a "building" one may still be alive in another worker (arq
        # retries a dead worker's job as well); the janitor re-queues it once it has gone stale.
        if bundle is None or bundle.status != BundleStatus.QUEUED or (bundle.sar_id is not None) != sar:
            return "skipped"
        bundle.status, bundle.attempts, bundle.items_done = BundleStatus.BUILDING, bundle.attempts + 1, 0
        bundle.updated_at = utcnow()
        subject = ("sar", bundle.sar_id) if bundle.sar_id else ("case", bundle.case_id)
    steps = Steps(progress=lambda done: _progress(ctx, bundle_id, done), record=lambda events: _record(ctx, events))
    try:
        with tempfile.TemporaryDirectory(prefix="bwv-bundle-") as tmp:
            parts, count = await members(ctx, bundle, tmp, steps)
            key = f"bundles/{bundle_id}.zip"
            size, sha = await zip_to_store(ctx.store, key, parts)
    except AwaitingRestore as e:  # sources in cold storage: the bundle waits for their restore
        await coldtier_tasks.wait_for_restore(ctx, bundle_id, e.recording_ids, subject)
        return BundleStatus.WAITING
    except Exception as e:
        await _fail(ctx, bundle_id, e)
        raise
    async with transaction(ctx.sessions) as s:
        b = await repo.get_bundle(s, bundle_id, for_update=True)
        b.status, b.storage_key, b.size_bytes, b.sha256 = BundleStatus.READY, key, size, sha
        b.finished_at = b.updated_at = utcnow()
        await audit.record(s, BUILDER, "bundle.built", *subject,
                           {"bundle_id": bundle_id, "sha256": sha, "size_bytes": size, "items": count})
    return BundleStatus.READY


async def _progress(ctx: Context, bundle_id: str, done: int) -> None:
    async with transaction(ctx.sessions) as s:
        b = await repo.get_bundle(s, bundle_id, for_update=True)
        b.items_done, b.updated_at = done, utcnow()


async def _record(ctx: Context, events: list[tuple]) -> None:
    async with transaction(ctx.sessions) as s:
        await audit.record_many(s, BUILDER, events)


async def _fail(ctx: Context, bundle_id: str, error: Exception) -> None:
    """A source that fails verification fails the bundle loudly (alert); other errors are retried."""
    permanent = isinstance(error, BuildFailed | ValueError)
    async with transaction(ctx.sessions) as s:
        b = await repo.get_bundle(s, bundle_id, for_update=True)
        b.error, b.updated_at = f"{type(error).__name__}: {error}"[:2000], utcnow()
        if permanent or b.attempts >= MAX_ATTEMPTS:
            b.status, b.finished_at = BundleStatus.FAILED, utcnow()
            await alerts.raise_alert(s, AlertKind.BUNDLE_FAILED, "bundle", bundle_id,
                                     f"Bundle {bundle_id} failed: {error}", severity=Severity.CRITICAL)
        else:
            b.status = BundleStatus.QUEUED


async def requeue_stuck(ctx: Context, older_than: timedelta = timedelta(minutes=30)) -> int:
    """Bundles left ``building`` by a dead worker are queued again (or failed after MAX_ATTEMPTS)."""
    async with transaction(ctx.sessions) as s:
        stuck = await repo.stuck_bundles(s, utcnow() - older_than)
        for b in stuck:
            if b.attempts >= MAX_ATTEMPTS:
                b.status, b.finished_at, b.error = BundleStatus.FAILED, utcnow(), "gave up after repeated interrupted builds"
            else:
                b.status, b.updated_at = BundleStatus.QUEUED, utcnow()
    for b in stuck:
        if b.status == BundleStatus.QUEUED:
            await ctx.jobs.enqueue(_job(b), bundle_id=b.id)
    return len(stuck)


async def build_bundle(ctx: Context, bundle_id: str) -> str:
    return await build(ctx, bundle_id, bundles.case_members)


async def bundle_janitor(ctx: Context) -> int:
    return await requeue_stuck(ctx)


JOBS = {JobName.BUILD_BUNDLE: build_bundle, JobName.BUNDLE_JANITOR: bundle_janitor}
CRON = [(JobName.BUNDLE_JANITOR, lambda settings: settings.janitor_interval_s)]
