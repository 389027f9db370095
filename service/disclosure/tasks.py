"""Disclosure jobs: build a bundle (a case's, or through :func:`build` a subject access request's); re-queue
bundles a dead worker left half-built.

A build runs in steps, each its own transaction: claim (queued -> building), progress, audit, then ready
or failed (the shared job-row state machine, :mod:`service.jobrows.service`). Only a ``ready`` bundle is ever served; a worker killed mid-build leaves it ``building``, and
the janitor re-queues it (three attempts, then ``failed``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from datetime import timedelta

from service.alerts.models import AlertKind, Severity
from service.audit import service as audit
from service.auth.schemas import system_principal
from service.coldtier import tasks as coldtier_tasks
from service.coldtier.access import AwaitingRestore
from service.context import Context
from service.db import transaction
from service.disclosure import bundles
from service.disclosure.bundles import BuildFailed, Steps
from service.disclosure.models import Bundle, BundleStatus
from service.disclosure.zipstream import Member, zip_to_store
from service.jobrows.service import Alarm, JobRows
from service.jobs import JobName
from service.timeutil import utcnow

BUILDER = system_principal("bundle-builder")
Members = Callable[[Context, Bundle, str, Steps], Awaitable[tuple[list[Member], int]]]
# A source that fails verification fails the bundle loudly (alert); other errors are retried.
BUNDLES = JobRows(
    Bundle, BundleStatus, BundleStatus.BUILDING,
    job=lambda b: JobName.BUILD_SAR_BUNDLE if b.sar_id else JobName.BUILD_BUNDLE,
    job_args=lambda b: {"bundle_id": b.id},
    alarm=lambda b, error: Alarm(AlertKind.BUNDLE_FAILED, "bundle", b.id, f"Bundle {b.id} failed: {error}",
                                 Severity.CRITICAL),
    permanent=(BuildFailed, ValueError), progress="items_done", run=None, progress_cap=None)
MAX_ATTEMPTS = BUNDLES.max_attempts


async def build(ctx: Context, bundle_id: str, members: Members, *, sar: bool = False) -> str:
    """Build one bundle with *members* (what goes into its ZIP), if it is queued and of this kind."""
    async with transaction(ctx.sessions) as s:
        bundle = await BUNDLES.claim(s, bundle_id, when=lambda b: (b.sar_id is not None) == sar)
        if bundle is None:
            return "skipped"
        subject = ("sar", bundle.sar_id) if bundle.sar_id else ("case", bundle.case_id)
    steps = Steps(progress=lambda done: _progress(ctx, bundle_id, done), record=lambda events: _record(ctx, events),
                  checkpoint=lambda: _checkpoint(ctx))
    try:
        with tempfile.TemporaryDirectory(prefix="bwv-bundle-") as tmp:
            parts, count = await members(ctx, bundle, tmp, steps)
            key = f"bundles/{bundle_id}.zip"
            size, sha = await zip_to_store(ctx.store, key, parts)
    except AwaitingRestore as e:  # sources in cold storage: the bundle waits for their restore
        await coldtier_tasks.wait_for_restore(ctx, bundle_id, e.recording_ids, subject)
        return BundleStatus.WAITING
    except Exception as e:
        async with transaction(ctx.sessions) as s:
            await BUNDLES.fail(s, bundle_id, None, e)
        raise
    async with transaction(ctx.sessions) as s:
        b = await BUNDLES.finish(s, bundle_id)
        b.storage_key, b.size_bytes, b.sha256 = key, size, sha
        await audit.record(s, BUILDER, "bundle.built", *subject,
                           {"bundle_id": bundle_id, "sha256": sha, "size_bytes": size, "items": count})
    return BundleStatus.READY


async def _progress(ctx: Context, bundle_id: str, done: int) -> None:
    async with transaction(ctx.sessions) as s:
        await BUNDLES.report(s, bundle_id, None, done)


async def _record(ctx: Context, events: list[tuple]) -> None:
    async with transaction(ctx.sessions) as s:
        await audit.record_many(s, BUILDER, events)


async def _checkpoint(ctx: Context) -> tuple[int, str] | None:
    async with transaction(ctx.sessions) as s:
        cp = await audit.make_checkpoint(s, BUILDER, ctx)
        return (cp.seq, cp.hash) if cp is not None else None


async def requeue_stuck(ctx: Context, older_than: timedelta = timedelta(minutes=30)) -> int:
    """Bundles left ``building`` (or ``queued``) by a dead worker are queued again (or failed after
    MAX_ATTEMPTS); their jobs are enqueued once that has committed."""
    async with transaction(ctx.sessions) as s:
        return await BUNDLES.requeue_stuck(s, ctx, utcnow() - older_than)


async def build_bundle(ctx: Context, bundle_id: str) -> str:
    return await build(ctx, bundle_id, bundles.case_members)


async def bundle_janitor(ctx: Context) -> int:
    return await requeue_stuck(ctx)


JOBS = {JobName.BUILD_BUNDLE: build_bundle, JobName.BUNDLE_JANITOR: bundle_janitor}
CRON = [(JobName.BUNDLE_JANITOR, lambda settings: settings.janitor_interval_s)]
