"""Jobs are named by JobName, and both runners refuse, before anything is queued, a name no domain
registered or arguments its function does not take; the registry itself is checked at start-up."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import pytest

from service import jobs
from service.config import Settings
from service.jobs import ArqJobs, InProcessJobs, JobName, JobRegistryError, cron_registry, registry


class _RecordingPool:
    def __init__(self) -> None:
        self.queued: list[tuple[str, dict]] = []

    async def enqueue_job(self, name: str, **kwargs: object) -> None:
        self.queued.append((name, kwargs))


def test_every_job_name_has_exactly_one_async_function() -> None:
    assert set(registry()) == set(JobName)
    assert all(inspect.iscoroutinefunction(fn) for fn in registry().values())
    assert {name for name, _ in cron_registry()} <= set(registry())


@pytest.mark.parametrize("runner", ["in-process", "arq"])
async def test_both_runners_refuse_unknown_jobs_and_wrong_arguments(runner: str) -> None:
    pool = _RecordingPool()
    if runner == "arq":
        queue = ArqJobs(pool, "q", owns_pool=False)
    else:
        queue = InProcessJobs(SimpleNamespace(settings=Settings()), cron=False)  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        await queue.enqueue("build_bundles", bundle_id="b")  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        await queue.enqueue("", bundle_id="b")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await queue.enqueue(JobName.BUILD_BUNDLE)  # bundle_id missing
    with pytest.raises(TypeError):
        await queue.enqueue(JobName.BUILD_BUNDLE, bundle_id="b", bundel_id="b")
    with pytest.raises(TypeError):
        await queue.enqueue(JobName.REDACT_SAR_ITEM, item_id="i")  # run missing
    with pytest.raises(TypeError):
        await queue.enqueue(JobName.SAR_DEADLINES, ctx=None)  # the runner passes the context itself
    assert pool.queued == [] and getattr(queue, "_tasks", set()) == set()
    if runner == "arq":
        await queue.enqueue(JobName.BUILD_BUNDLE, bundle_id="b")
        await queue.enqueue("redact_sar_item", item_id="i", run="r")  # type: ignore[arg-type]
        assert pool.queued == [("build_bundle", {"_queue_name": "q", "bundle_id": "b"}),
                               ("redact_sar_item", {"_queue_name": "q", "item_id": "i", "run": "r"})]


def _domain(name: str, jobs_: dict, cron: list | None = None) -> SimpleNamespace:
    return SimpleNamespace(__name__=name, JOBS=jobs_, CRON=cron or [])


async def _job(ctx) -> None:
    return None


def _sync_job(ctx) -> None:
    return None


@pytest.mark.parametrize(("domains", "message"), [
    ([_domain("a", {"no_such_job": _job})], "'no_such_job' is not a JobName"),
    ([_domain("a", {JobName.SAR_JANITOR: _job}), _domain("b", {"sar_janitor": _job})], "registered twice"),
    ([_domain("a", {JobName.SAR_JANITOR: _sync_job})], "not an async function"),
    ([_domain("a", {JobName.SAR_JANITOR: _job}, [(JobName.SAR_DEADLINES, lambda s: 60)])], "without a function"),
])
def test_a_registry_that_does_not_fit_together_stops_start_up(monkeypatch, domains, message) -> None:
    monkeypatch.setattr(jobs, "_domains", lambda: domains)
    for cached in (jobs.registry, jobs.cron_registry, jobs._signature):
        cached.cache_clear()
    try:
        with pytest.raises(JobRegistryError, match=message):
            InProcessJobs(SimpleNamespace(settings=Settings()), cron=False)  # type: ignore[arg-type]
        with pytest.raises(JobRegistryError, match=message):
            ArqJobs(_RecordingPool(), "q")
    finally:
        for cached in (jobs.registry, jobs.cron_registry, jobs._signature):
            cached.cache_clear()
