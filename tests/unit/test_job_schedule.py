"""Both job runners keep one schedule: the in-process runner's loop and arq's own cron machinery (its
real ``Worker.run_cron``, with the worker's cron jobs) fire a periodic job at the same instants, for any
interval, start time, heartbeat pattern and run length; and the instants are the interval's multiples."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from arq.worker import Worker
from hypothesis import given, settings
from hypothesis import strategies as st

from service.config import Settings
from service.jobs import JobName, cron_registry, next_fire, run_on_schedule
from service.worker import interval_cron, worker_options

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FIRES = 6

# Any interval up to a week, with the configured defaults (5400 s is the one arq used to run hourly).
intervals = st.one_of(st.integers(1, 7 * 86400), st.sampled_from([900, 3600, 5400, 6 * 3600, 7, 86399]))
starts = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                      timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                                 timezone(timedelta(hours=-8))]))


@given(interval=intervals, after=starts)
def test_next_fire_is_the_next_multiple_of_the_interval(interval: int, after: datetime) -> None:
    at = next_fire(interval, after)
    assert at > after >= at - timedelta(seconds=interval)
    assert (at - EPOCH) % timedelta(seconds=interval) == timedelta(0)
    assert at.tzinfo == after.tzinfo


def test_next_fire_refuses_what_has_no_schedule() -> None:
    with pytest.raises(ValueError):
        next_fire(0, datetime.now(UTC))
    with pytest.raises(ValueError):
        next_fire(60, datetime(2026, 1, 1))


class _RecordingPool:
    """Stands in for Redis: arq's run_cron only enqueues, and the job id it gives is the instant."""

    default_queue_name = "test"

    def __init__(self) -> None:
        self.instants: list[datetime] = []

    async def enqueue_job(self, name: str, *, _job_id: str, **_: object) -> None:
        assert name == "cron:sar_janitor"
        self.instants.append(EPOCH + timedelta(milliseconds=int(_job_id.rsplit(":", 1)[1])))


async def _arq_instants(interval: int, start: datetime, gaps: list[float], count: int = FIRES) -> list[datetime]:
    pool = _RecordingPool()
    worker = Worker(functions=[], cron_jobs=[interval_cron(JobName.SAR_JANITOR, interval)],
                    redis_pool=pool, handle_signals=False, timezone=start.tzinfo)  # type: ignore[arg-type]
    now, i = start, 0
    while len(pool.instants) < count:
        await worker.run_cron(now, 0.5)  # what each heartbeat does
        now += timedelta(seconds=gaps[i % len(gaps)])
        i += 1
    return pool.instants[:count]


def _gaps(interval: int):
    """Heartbeat gaps: arq's 0.5 s, up to a worker stalled for several intervals (never so small
    against the interval that a simulated week takes millions of heartbeats)."""
    return st.lists(st.floats(max(0.05, interval / 50), 3.0 * interval), min_size=1, max_size=8)


class _Stop(Exception):
    pass


async def _in_process_instants(interval: int, start: datetime, runs: list[float]) -> list[datetime]:
    clock = [start]
    fired: list[datetime] = []

    async def sleep(seconds: float) -> None:
        clock[0] += timedelta(seconds=seconds)

    async def fire(at: datetime) -> None:
        assert clock[0] >= at  # never early
        if not fired or fired[-1][1] <= at:
            assert clock[0] == at  # and exactly on time whenever the previous run had ended
        fired.append((at, clock[0]))
        if len(fired) == FIRES:
            raise _Stop
        clock[0] += timedelta(seconds=runs[len(fired) % len(runs)])
        fired[-1] = (at, clock[0])

    with pytest.raises(_Stop):
        await run_on_schedule(interval, fire, now=lambda: clock[0], sleep=sleep)
    return [at for at, _ in fired]


@settings(max_examples=200, deadline=None)
@given(interval=intervals, start=starts, data=st.data())
def test_both_runners_fire_at_the_same_instants(interval: int, start: datetime, data) -> None:
    # Heartbeats from arq's 0.5 s to a stalled worker; runs from instant to several intervals long.
    gaps = data.draw(_gaps(interval), label="heartbeat gaps")
    runs = data.draw(st.lists(st.floats(0, 3.0 * interval), min_size=1, max_size=8), label="run lengths")
    arq = asyncio.run(_arq_instants(interval, start, gaps))
    embedded = asyncio.run(_in_process_instants(interval, start, runs))
    expected = [next_fire(interval, start)]
    while len(expected) < FIRES:
        expected.append(expected[-1] + timedelta(seconds=interval))
    assert arq == embedded == expected


@settings(deadline=None)
@given(interval=intervals, start=starts, data=st.data())
def test_workers_started_at_different_times_name_each_instant_alike(interval: int, start: datetime, data) -> None:
    """arq drops a cron enqueue whose job id exists, so several workers run each instant once only if
    they all compute the same instants: a later worker's are the earlier one's, from where it started."""
    offset = data.draw(st.floats(0, 3.0 * interval), label="second worker starts later by")
    early = asyncio.run(_arq_instants(interval, start, data.draw(_gaps(interval)), count=FIRES + 4))
    late = asyncio.run(_arq_instants(interval, start + timedelta(seconds=offset), data.draw(_gaps(interval)),
                                     count=FIRES))
    assert late == [at for at in early if at > start + timedelta(seconds=offset)][:FIRES]


def test_the_worker_schedules_every_periodic_job_with_its_configured_interval() -> None:
    settings_ = Settings(janitor_interval_s=5400, sweep_interval_s=7, sar_deadline_interval_s=86399)
    crons = {cj.name: cj.interval_s for cj in worker_options(settings_)["cron_jobs"]}
    assert crons == {f"cron:{name.value}": interval(settings_) for name, interval in cron_registry()}
    assert crons["cron:bundle_janitor"] == 5400 and crons["cron:retention_sweep"] == 7
