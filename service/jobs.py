"""Background jobs: arq on Redis in production, an in-process runner in embedded mode.

Job functions live in each domain's ``tasks.py`` as ``async def job(ctx: Context, **kwargs)`` and are
listed in its ``JOBS`` under a :class:`JobName`; both runners call the same functions and refuse, before
anything is queued, a name nobody registered or arguments the job does not take. Periodic jobs fire at
the instants :func:`next_fire` gives, in both runners. Jobs must be idempotent and recoverable: the
periodic janitor re-enqueues work whose state in the database says it is unfinished, so a job lost to a
crash (in-process runner) or a dead worker is picked up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, Protocol

import structlog

from service import metrics
from service.config import Settings
from service.context import Context

log = structlog.get_logger(__name__)

JobFn = Callable[..., Awaitable[Any]]
IntervalFn = Callable[[Settings], int]


class JobName(StrEnum):
    """Every job there is. A name, not the function: the functions' modules import the services that
    enqueue them, so a reference would make each of those a cycle. The values are what arq stores in
    Redis, so a rename must keep the old value while old jobs may still be queued."""

    PROBE_RECORDING = "probe_recording"
    INGEST_JANITOR = "ingest_janitor"
    RETENTION_SWEEP = "retention_sweep"
    RECOMPUTE_RETENTION = "recompute_retention"
    ROLL_OBJECT_LOCK = "roll_object_lock"
    BUILD_BUNDLE = "build_bundle"
    BUILD_SAR_BUNDLE = "build_sar_bundle"
    BUNDLE_JANITOR = "bundle_janitor"
    REDACT_SAR_ITEM = "redact_sar_item"
    FIND_SAR_ITEM_FACES = "find_sar_item_faces"
    SAR_JANITOR = "sar_janitor"
    SAR_DEADLINES = "sar_deadlines"
    AUDIT_CHECKPOINT = "audit_checkpoint"
    MOVE_TO_COLD = "move_to_cold"
    POLL_COLD_RESTORES = "poll_cold_restores"
    RETENTION_REVIEWS = "retention_reviews"
    NOTIFY_WEEKLY = "notify_weekly"
    NOTIFY_DAILY = "notify_daily"
    MAKE_WORKING_COPY = "make_working_copy"
    WORKING_COPY_JANITOR = "working_copy_janitor"


class JobRegistryError(RuntimeError):
    """The domains' JOBS/CRON lists do not fit together: found at start-up, never at enqueue time."""


def _domains() -> list[Any]:
    # Imported here, not at the top: the domains' services import this module for JobName.
    from service.audit import tasks as audit_tasks
    from service.coldtier import tasks as coldtier_tasks
    from service.disclosure import tasks as disclosure_tasks
    from service.ingest import tasks as ingest_tasks
    from service.notify import tasks as notify_tasks
    from service.recordings import tasks as recordings_tasks
    from service.retention import tasks as retention_tasks
    from service.sar import tasks as sar_tasks

    return [ingest_tasks, retention_tasks, disclosure_tasks, sar_tasks, audit_tasks, coldtier_tasks,
            notify_tasks, recordings_tasks]


@cache
def registry() -> dict[JobName, JobFn]:
    """Every domain's jobs, checked: each name a :class:`JobName`, claimed by one domain only."""
    jobs: dict[JobName, JobFn] = {}
    for domain in _domains():
        for name, fn in domain.JOBS.items():
            try:
                key = JobName(name)
            except ValueError:
                raise JobRegistryError(f"{domain.__name__}: {name!r} is not a JobName") from None
            if key in jobs:
                raise JobRegistryError(f"{domain.__name__}: {key} is registered twice")
            if not inspect.iscoroutinefunction(fn):
                raise JobRegistryError(f"{domain.__name__}: {key} is not an async function")
            jobs[key] = fn
    return jobs


@cache
def cron_registry() -> tuple[tuple[JobName, IntervalFn], ...]:
    """(job, interval-in-seconds getter) for periodic jobs, each a registered job; checks the registry too,
    which is why both runners call it at start-up."""
    jobs = registry()
    crons = tuple((JobName(name), interval) for domain in _domains() for name, interval in domain.CRON)
    unknown = [name for name, _ in crons if name not in jobs]
    if unknown:
        raise JobRegistryError(f"periodic jobs without a function: {', '.join(unknown)}")
    return crons


@cache
def _signature(name: JobName) -> inspect.Signature:
    return inspect.signature(registry()[name])


def checked(name: JobName | str, kwargs: dict[str, Any]) -> JobName:
    """The job ``name`` is, once it is known that it exists and takes ``kwargs`` (after its context):
    raises ``KeyError`` or ``TypeError`` otherwise, in the enqueuer, where the mistake is."""
    try:
        job = JobName(name)
    except ValueError:
        raise KeyError(name) from None
    if job not in registry():
        raise KeyError(job.value)
    _signature(job).bind(None, **kwargs)
    return job


# ---- the schedule ------------------------------------------------------------------------------------

def next_fire(interval_s: int, after: datetime) -> datetime:
    """When a job run every ``interval_s`` seconds next fires after ``after``: the next whole multiple
    of the interval since the Unix epoch. Both runners (and every arq worker: their cron job ids are
    these instants, so only one enqueue wins) keep to it, so a 5400 s job runs at 00:00, 01:30, … UTC
    whichever runner runs it, and a restart does not shift the schedule."""
    if interval_s < 1:
        raise ValueError(f"interval_s must be >= 1, not {interval_s!r}")
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    # Whole microseconds, not a float timestamp, which would round near large multiples.
    elapsed_us = (after - epoch) // timedelta(microseconds=1)
    k = elapsed_us // (interval_s * 1_000_000) + 1
    return (epoch + timedelta(seconds=k * interval_s)).astimezone(after.tzinfo)


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def run_on_schedule(interval_s: int, fire: Callable[[datetime], Awaitable[None]], *,
                          now: Callable[[], datetime] = _utcnow,
                          sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
    """The in-process runner's cron loop: ``fire(instant)`` at every :func:`next_fire` instant, for
    ever. A run that overruns the next instant is followed at once by the instant it missed, as arq's
    worker enqueues it on its next heartbeat."""
    at = next_fire(interval_s, now())
    while True:
        delay = (at - now()).total_seconds()
        if delay > 0:
            await sleep(delay)
        await fire(at)
        at = next_fire(interval_s, at)


# ---- running -----------------------------------------------------------------------------------------

async def run_job(ctx: Context, name: JobName | str, **kwargs: Any) -> Any:
    job = JobName(name)
    fn = registry()[job]
    try:
        result = await fn(ctx, **kwargs)
    except Exception:
        metrics.JOBS.labels(job.value, "error").inc()
        log.exception("job_failed", job=job.value, **{k: str(v) for k, v in kwargs.items()})
        raise
    metrics.JOBS.labels(job.value, "ok").inc()
    return result


class Jobs(Protocol):
    async def enqueue(self, name: JobName, **kwargs: Any) -> None: ...
    async def close(self) -> None: ...


class InProcessJobs:
    """Runs jobs as asyncio tasks in the API process, with bounded concurrency, plus the cron loops."""

    def __init__(self, ctx: Context, concurrency: int = 2, cron: bool = True):
        self._ctx = ctx
        self._sem = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task] = set()
        self._cron_tasks: list[asyncio.Task] = []
        crons = cron_registry()  # checks the registry at start-up, with or without cron
        if cron:
            for name, interval in crons:
                self._cron_tasks.append(asyncio.create_task(self._cron(name, interval(ctx.settings))))

    async def _cron(self, name: JobName, interval_s: int) -> None:
        async def fire(_at: datetime) -> None:
            with contextlib.suppress(Exception):
                await self._run(name, {})

        await run_on_schedule(interval_s, fire)

    async def _run(self, name: JobName, kwargs: dict[str, Any]) -> None:
        async with self._sem:
            with contextlib.suppress(Exception):  # run_job logged it; the janitor retries later
                await run_job(self._ctx, name, **kwargs)

    async def enqueue(self, name: JobName, **kwargs: Any) -> None:
        job = checked(name, kwargs)
        task = asyncio.create_task(self._run(job, kwargs))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for queued jobs (tests and the CLI use it)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for t in [*self._cron_tasks, *self._tasks]:
            t.cancel()
        await asyncio.gather(*self._cron_tasks, *self._tasks, return_exceptions=True)


class ArqJobs:
    """Hands jobs to arq workers (:mod:`service.worker`), after the same checks as the in-process runner:
    a worker would only find a bad name or argument after the request that queued it had succeeded."""

    def __init__(self, pool: Any, queue_name: str, owns_pool: bool = True):
        cron_registry()
        self.pool = pool
        self._queue = queue_name
        self._owns = owns_pool

    @classmethod
    async def connect(cls, redis_url: str, queue_name: str) -> ArqJobs:
        from arq import create_pool
        from arq.connections import RedisSettings

        return cls(await create_pool(RedisSettings.from_dsn(redis_url)), queue_name)

    async def enqueue(self, name: JobName, **kwargs: Any) -> None:
        job = checked(name, kwargs)
        await self.pool.enqueue_job(job.value, _queue_name=self._queue, **kwargs)

    async def close(self) -> None:
        if self._owns:
            await self.pool.aclose()


async def resume_unfinished(ctx: Context) -> None:
    """Embedded mode is one process: the bundles, redactions and face scans it left queued or running died with it,
    so they are queued again at start-up. (Worker fleets cannot know that; their janitor waits until
    such work has gone stale.)"""
    from service.disclosure import tasks as bundles
    from service.sar import tasks as sar_tasks

    await bundles.requeue_stuck(ctx, older_than=timedelta(0))
    await sar_tasks.requeue_stuck_redactions(ctx, older_than=timedelta(0))
    await sar_tasks.requeue_stuck_faces(ctx, older_than=timedelta(0))


async def start_jobs(ctx: Context, *, cron: bool = True) -> Jobs:
    if ctx.settings.redis_url:
        ctx.jobs = await ArqJobs.connect(ctx.settings.redis_url, ctx.settings.queue_name)
    else:
        ctx.jobs = InProcessJobs(ctx, cron=cron)
    return ctx.jobs
