"""arq WorkerSettings: every job is a thin wrapper calling the domain task with the shared Context."""

from __future__ import annotations

from typing import Any

from arq import cron
from arq.connections import RedisSettings

from service.config import Settings
from service.context import build_context
from service.jobs import ArqJobs, cron_registry, registry, run_job
from service.logging import configure


def _wrap(name: str):
    async def job(arq_ctx: dict[str, Any], **kwargs: Any) -> Any:
        return await run_job(arq_ctx["bwv"], name, **kwargs)

    job.__name__ = name
    job.__qualname__ = name
    return job


def _schedule(interval_s: int) -> dict[str, Any]:
    """arq cron takes calendar sets, not intervals: spread the interval over minutes or hours."""
    if interval_s < 60:
        return {"second": set(range(0, 60, max(1, interval_s)))}
    if interval_s < 3600:
        return {"minute": set(range(0, 60, max(1, interval_s // 60))), "second": 0}
    return {"hour": set(range(0, 24, max(1, interval_s // 3600))), "minute": 0, "second": 0}


async def startup(arq_ctx: dict[str, Any]) -> None:
    settings = Settings()
    configure(settings.log_level, settings.log_format)
    ctx = build_context(settings)
    ctx.jobs = ArqJobs(arq_ctx["redis"], settings.queue_name, owns_pool=False)
    arq_ctx["bwv"] = ctx


async def shutdown(arq_ctx: dict[str, Any]) -> None:
    ctx = arq_ctx.get("bwv")
    if ctx is not None:
        await ctx.close()


_settings = Settings()


class WorkerSettings:
    functions = [_wrap(name) for name in registry()]
    cron_jobs = [cron(_wrap(name), name=f"cron:{name}", run_at_startup=False, unique=True,
                      **_schedule(interval(_settings)))
                 for name, interval in cron_registry()]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = RedisSettings.from_dsn(_settings.redis_url or "redis://127.0.0.1:6379/0")
    queue_name = _settings.queue_name
    max_jobs = 4
    job_timeout = 3600
    keep_result = 3600
