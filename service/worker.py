"""The arq worker: every job a thin wrapper calling the domain task with the shared Context, and the
periodic jobs on :func:`service.jobs.next_fire`'s schedule, the same instants as the in-process runner.

:class:`WorkerSettings` holds only what does not depend on the environment, so importing it reads no
setting; :func:`worker_options` adds the Redis URL, queue and cron intervals from a
:class:`~service.config.Settings` when a worker starts (``bwv worker``, through :func:`run`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from arq.connections import RedisSettings
from arq.cron import CronJob, cron

from service.config import Settings
from service.context import build_context
from service.jobs import ArqJobs, JobName, cron_registry, next_fire, registry, run_job
from service.logging import configure


def _wrap(name: JobName):
    async def job(arq_ctx: dict[str, Any], **kwargs: Any) -> Any:
        return await run_job(arq_ctx["bwv"], name, **kwargs)

    job.__name__ = job.__qualname__ = name.value
    return job


@dataclass
class IntervalCronJob(CronJob):
    """An arq cron job that fires at :func:`next_fire`'s instants instead of arq's calendar sets, which
    cannot say "every 5400 s" (the old mapping ran it hourly). arq calls :meth:`calculate_next` with
    the worker's start time and then with each instant it enqueued; the instant is also the job id,
    so of several workers only one enqueues it."""

    interval_s: int = 0

    def calculate_next(self, prev_run: datetime) -> None:
        self.next_run = next_fire(self.interval_s, prev_run)


def interval_cron(name: JobName, interval_s: int) -> IntervalCronJob:
    base = cron(_wrap(name), name=f"cron:{name.value}", run_at_startup=False, unique=True)
    fields = {f: getattr(base, f) for f in base.__dataclass_fields__}
    return IntervalCronJob(**fields, interval_s=interval_s)


async def startup(arq_ctx: dict[str, Any]) -> None:
    settings = arq_ctx.get("settings") or Settings()
    configure(settings.log_level, settings.log_format)
    ctx = build_context(settings)
    ctx.jobs = ArqJobs(arq_ctx["redis"], settings.queue_name, owns_pool=False)
    arq_ctx["bwv"] = ctx


async def shutdown(arq_ctx: dict[str, Any]) -> None:
    ctx = arq_ctx.get("bwv")
    if ctx is not None:
        await ctx.close()


class WorkerSettings:
    """arq's settings class; building it checks the job registry (:func:`service.jobs.registry`)."""

    functions = [_wrap(name) for name in registry()]
    on_startup = startup
    on_shutdown = shutdown
    max_jobs = 4
    job_timeout = 3600
    keep_result = 3600


def worker_options(settings: Settings) -> dict[str, Any]:
    """What a worker takes from the settings, on top of :class:`WorkerSettings`."""
    return {
        "redis_settings": RedisSettings.from_dsn(settings.redis_url or "redis://127.0.0.1:6379/0"),
        "queue_name": settings.queue_name,
        "cron_jobs": [interval_cron(name, interval(settings)) for name, interval in cron_registry()],
        "ctx": {"settings": settings},
    }


def run(settings: Settings) -> None:
    """Run a worker until it is signalled to stop."""
    from arq import run_worker

    run_worker(WorkerSettings, **worker_options(settings))
