"""One job-row state machine for every long job that keeps its state in a row (bundle builds, SAR
redactions, SAR face scans), so claiming, progress, finishing, failing and re-queueing behave the same.

A row is ``queued`` when asked for; a worker *claims* it (queued -> running, one attempt more) in a
transaction of its own, does the work outside any transaction while *report* writes its progress, then
*finish* (ready) or *fail* (failed with an alert when the error is permanent or the attempts are spent;
queued again otherwise). Only a queued row is claimed: a running one may still be alive in another worker
(arq retries a dead worker's job too); the janitor (*requeue_stuck*) decides when it is dead.

Rows with a ``run`` column are superseded by a newer request: every step checks the run it was given is
still the row's, so an old run's result is discarded. The functions take the caller's session and never
commit; the job's edge (a ``tasks.py``) opens one transaction per step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from service.alerts import service as alerts
from service.alerts.models import AlertKind, Severity
from service.context import Context
from service.db import after_commit
from service.jobrows import repository as repo
from service.jobs import JobName
from service.timeutil import utcnow


class Alarm(NamedTuple):
    """The alert a job raises when it fails for good."""

    kind: AlertKind
    subject_type: str
    subject_id: str
    message: str
    severity: Severity = Severity.WARNING


@dataclass(frozen=True)
class JobRows:
    """How one kind of job keeps its state in a row of *model*.

    Columns are named ``{prefix}status``, ``{prefix}attempts``, ``{prefix}error``, ``{prefix}updated_at``,
    ``{prefix}finished_at``, *progress* and (when the job has runs) *run*."""

    model: type
    statuses: type[StrEnum]  # has QUEUED, READY and FAILED
    running: StrEnum  # the status of a claimed row ("running", or a bundle's "building")
    job: Callable[[Any], JobName]  # the job that works on a row
    job_args: Callable[[Any], dict[str, Any]]  # its keyword arguments
    alarm: Callable[[Any, BaseException], Alarm]
    permanent: tuple[type[BaseException], ...]  # errors that fail at once: retrying cannot help
    prefix: str = ""
    progress: str = "progress"
    run: str | None = "run"
    progress_cap: float | None = 0.99  # a fraction stays below 1 until the row is ready; None: a count
    max_attempts: int = 3

    def _get(self, row: Any, name: str) -> Any:
        return getattr(row, self.prefix + name)

    def _set(self, row: Any, **values: Any) -> None:
        for name, value in values.items():
            setattr(row, self.prefix + name, value)

    def status(self, row: Any) -> str:
        return self._get(row, "status")

    async def current(self, s: AsyncSession, key: str, run: str | None = None) -> Any:
        """The row, locked, when *run* is still its run (rows without runs: when it exists)."""
        row = await repo.get(s, self.model, key, for_update=True)
        if row is None or (self.run is not None and getattr(row, self.run) != run):
            return None
        return row

    async def claim(self, s: AsyncSession, key: str, run: str | None = None,
                    when: Callable[[Any], bool] | None = None) -> Any:
        """The queued row (and run), now running with one attempt more; None when it is not queued, was
        superseded, or fails *when*."""
        row = await self.current(s, key, run)
        if row is None or self.status(row) != self.statuses.QUEUED or (when is not None and not when(row)):
            return None
        self._set(row, status=self.running, attempts=self._get(row, "attempts") + 1, updated_at=utcnow())
        setattr(row, self.progress, 0)
        return row

    async def report(self, s: AsyncSession, key: str, run: str | None, value: float) -> bool:
        """Writes the progress; False once the run is no longer the one running."""
        row = await self.current(s, key, run)
        if row is None or self.status(row) != self.running:
            return False
        setattr(row, self.progress, value if self.progress_cap is None else min(value, self.progress_cap))
        self._set(row, updated_at=utcnow())
        return True

    async def finish(self, s: AsyncSession, key: str, run: str | None = None) -> Any:
        """The row, now ready (its result is the caller's to fill in); None when a newer run superseded it."""
        row = await self.current(s, key, run)
        if row is None:
            return None
        now = utcnow()
        self._set(row, status=self.statuses.READY, finished_at=now, updated_at=now, error=None)
        if self.progress_cap is not None:
            setattr(row, self.progress, 1.0)
        return row

    async def fail(self, s: AsyncSession, key: str, run: str | None, error: BaseException) -> None:
        """A permanent error (bad media, a source failing verification) fails at once with an alert, as does
        the last attempt; anything else (storage, a killed ffmpeg) is queued to be retried."""
        row = await self.current(s, key, run)
        if row is None:
            return
        self._set(row, error=f"{type(error).__name__}: {error}"[:2000], updated_at=utcnow())
        if isinstance(error, self.permanent) or self._get(row, "attempts") >= self.max_attempts:
            self._set(row, status=self.statuses.FAILED, finished_at=utcnow())
            a = self.alarm(row, error)
            await alerts.raise_alert(s, a.kind, a.subject_type, a.subject_id, a.message[:2000], severity=a.severity)
        else:
            self._set(row, status=self.statuses.QUEUED)

    async def requeue_stuck(self, s: AsyncSession, ctx: Context, before: datetime) -> int:
        """Rows a dead worker left queued or running since before *before* are queued again (failed once
        their attempts are spent); their jobs are enqueued once that has committed."""
        stuck = await repo.stuck(s, self.model, self.prefix + "status", self.prefix + "updated_at",
                                 (self.statuses.QUEUED, self.running), before)
        for row in stuck:
            if self._get(row, "attempts") >= self.max_attempts:
                self._set(row, status=self.statuses.FAILED, finished_at=utcnow(),
                          error="gave up after repeated interrupted runs")
            else:
                self._set(row, status=self.statuses.QUEUED, updated_at=utcnow())
        for job, kwargs in [(self.job(r), self.job_args(r)) for r in stuck if self.status(r) == self.statuses.QUEUED]:
            after_commit(s, lambda j=job, k=kwargs: ctx.jobs.enqueue(j, **k))
        return len(stuck)
