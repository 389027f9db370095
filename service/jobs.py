"""Background jobs: arq on Redis in production, an in-process runner in embedded mode.

Job functions live in each domain's ``tasks.py`` as ``async def job(ctx: Context, **kwargs)`` and are
listed in :data:`JOBS`; both runners call the same functions. Jobs must be idempotent and recoverable:
the periodic janitor re-enqueues work whose state in the database says it is unfinished, so a job lost
to a crash (in-process runner) or a dead worker is picked up again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol

import structlog

from service import metrics
from service.config import Settings
from service.context import Context

log = structlog.get_logger(__name__)

JobFn = Callable[..., Awaitable[Any]]


def registry() -> dict[str, JobFn]:
    from service.disclosure import tasks as disclosure_tasks
    from service.ingest import tasks as ingest_tasks
    from service.retention import tasks as retention_tasks
    from service.sar import tasks as sar_tasks

    return {**ingest_tasks.JOBS, **retention_tasks.JOBS, **disclosure_tasks.JOBS, **sar_tasks.JOBS}


def cron_registry() -> list[tuple[str, Callable[[Settings], int]]]:
    """(job name, interval-in-seconds getter) for periodic jobs."""
    from service.disclosure import tasks as disclosure_tasks
    from service.ingest import tasks as ingest_tasks
    from service.retention import tasks as retention_tasks
    from service.sar import tasks as sar_tasks

    return [*ingest_tasks.CRON, *retention_tasks.CRON, *disclosure_tasks.CRON, *sar_tasks.CRON]


async def run_job(ctx: Context, name: str, **kwargs: Any) -> Any:
    fn = registry()[name]
    try:
        result = await fn(ctx, **kwargs)
    except Exception:
        metrics.JOBS.labels(name, "error").inc()
        log.exception("job_failed", job=name, **{k: str(v) for k, v in kwargs.items()})
        raise
    metrics.JOBS.labels(name, "ok").inc()
    return result


class Jobs(Protocol):
    async def enqueue(self, name: str, **kwargs: Any) -> None: ...
    async def close(self) -> None: ...


class InProcessJobs:
    """Runs jobs as asyncio tasks in the API process, with bounded concurrency, plus the cron loops."""

    def __init__(self, ctx: Context, concurrency: int = 2, cron: bool = True):
        self._ctx = ctx
        self._sem = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task] = set()
        self._cron_tasks: list[asyncio.Task] = []
        if cron:
            for name, interval in cron_registry():
                self._cron_tasks.append(asyncio.create_task(self._cron(name, interval(ctx.settings))))

    async def _cron(self, name: str, interval_s: int) -> None:
        while True:
            await asyncio.sleep(interval_s)
            with contextlib.suppress(Exception):
                await self._run(name, {})

    async def _run(self, name: str, kwargs: dict[str, Any]) -> None:
        async with self._sem:
            with contextlib.suppress(Exception):  # run_job logged it; the janitor retries later
                await run_job(self._ctx, name, **kwargs)

    async def enqueue(self, name: str, **kwargs: Any) -> None:
        if name not in registry():
            raise KeyError(name)
        task = asyncio.create_task(self._run(name, kwargs))
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
    def __init__(self, pool: Any, queue_name: str, owns_pool: bool = True):
        self.pool = pool
        self._queue = queue_name
        self._owns = owns_pool

    @classmethod
    async def connect(cls, redis_url: str, queue_name: str) -> ArqJobs:
        from arq import create_pool
        from arq.connections import RedisSettings

        return cls(await create_pool(RedisSettings.from_dsn(redis_url)), queue_name)

    async def enqueue(self, name: str, **kwargs: Any) -> None:
        await self.pool.enqueue_job(name, _queue_name=self._queue, **kwargs)

    async def close(self) -> None:
        if self._owns:
            await self.pool.aclose()


async def resume_unfinished(ctx: Context) -> None:
    """Embedded mode is one process: the bundles and redactions it left queued or running died with it,
    so they are queued again at start-up. (Worker fleets cannot know that; their janitor waits until
    such work has gone stale.)"""
    from service.disclosure import bundles
    from service.sar import redaction

    await bundles.requeue_stuck(ctx, older_than=timedelta(0))
    await redaction.requeue_stuck(ctx, older_than=timedelta(0))


async def start_jobs(ctx: Context, *, cron: bool = True) -> Jobs:
    if ctx.settings.redis_url:
        ctx.jobs = await ArqJobs.connect(ctx.settings.redis_url, ctx.settings.queue_name)
    else:
        ctx.jobs = InProcessJobs(ctx, cron=cron)
    return ctx.jobs
