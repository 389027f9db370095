"""The retention sweep (API.md "Retention"; DESIGN.md rules 1, 4 and 6).

Claim due recordings in batches (SKIP LOCKED on PostgreSQL, so several workers share the work) and
mark them ``deleting`` — committed before any byte is removed, so a crash leaves a marker. Then, per
batch, with the rows locked: re-check protection, remove every stored copy, write tombstones and audit
events. A killed sweep is finished by the next one, which starts with rows left ``deleting``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from service import metrics
from service.alerts import service as alerts
from service.alerts.models import AlertKind, Severity
from service.audit import service as audit
from service.auth.schemas import Principal
from service.context import Context
from service.db import transaction
from service.devices.clock import TimeTrust
from service.errors import Forbidden
from service.ids import new_id
from service.recordings.models import Recording, RecordingStatus
from service.retention import repository as repo
from service.retention.models import Sweep, SweepStatus
from service.retention.rules import keep_categories
from service.timeutil import iso, utcnow

log = structlog.get_logger(__name__)
BATCH = 1000  # also the S3 DeleteObjects limit


@dataclass
class SweepReport:
    sweep_id: str
    as_of: datetime
    dry_run: bool
    due: int = 0
    deleted: int = 0
    refused: int = 0
    bytes: int = 0
    items: list[tuple[str, datetime | None]] = field(default_factory=list)
    refused_ids: set[str] = field(default_factory=set)  # kept by storage (Object Lock): not retried this sweep


def check_as_of(ctx: Context, as_of: datetime | None) -> datetime:
    now = utcnow()
    if as_of is None:
        return now
    if as_of > now + timedelta(seconds=60) and not ctx.settings.allow_clock_override:
        raise Forbidden(f"as_of {iso(as_of)} is in the future; only a test or training system with "
                        "BWV_ALLOW_CLOCK_OVERRIDE=1 may sweep as of a later time.", slug="clock-override-refused")
    return as_of


async def sweep(ctx: Context, actor: Principal, *, as_of: datetime | None = None, dry_run: bool = False,
                batch: int = BATCH, item_limit: int = 1000) -> SweepReport:
    try:
        as_of = check_as_of(ctx, as_of)
    except Forbidden:
        # A refused attempt to sweep in the future is itself worth a line in the audit.
        async with transaction(ctx.sessions) as s:
            await audit.record(s, actor, "retention.sweep_refused", "sweep", "-",
                               {"as_of": as_of, "why": "future as_of without BWV_ALLOW_CLOCK_OVERRIDE"})
        raise
    keep = keep_categories(ctx.policies.retention)
    report = SweepReport(sweep_id=new_id("swp"), as_of=as_of, dry_run=dry_run)
    async with transaction(ctx.sessions) as s:
        s.add(Sweep(id=report.sweep_id, actor=actor.sub, as_of=as_of, dry_run=dry_run, started_at=utcnow(),
                    status=SweepStatus.RUNNING))
        await audit.record(s, actor, "retention.sweep_started", "sweep", report.sweep_id,
                           {"as_of": as_of, "dry_run": dry_run, "clock_override": as_of > utcnow()})
    try:
        if dry_run:
            async with ctx.sessions() as s:
                report.due, report.bytes = await repo.due_summary(s, as_of, keep)
                rows = await repo.due_page(s, as_of, keep, after=None, limit=item_limit)
            report.items = [(r.id, r.delete_after) for r in rows]
        else:
            await _finish_deleting(ctx, actor, report, keep, ids=None, batch=batch)  # a killed sweep's leftovers
            while True:
                async with transaction(ctx.sessions) as s:
                    claimed = await repo.claim_due(s, as_of, keep, batch, exclude=report.refused_ids)
                    ids = [r.id for r in claimed]
                    if ids:
                        await repo.set_status(s, ids, RecordingStatus.DELETING)
                if not ids:
                    break
                report.due += len(ids)
                await _finish_deleting(ctx, actor, report, keep, ids=ids, batch=batch)
                await _save_counts(ctx, report)  # GET /v1/retention/sweeps shows a running sweep's progress
                metrics.RETENTION_SWEEP_PROGRESS.set(report.deleted + report.refused)
                log.info("retention_sweep_progress", sweep=report.sweep_id, deleted=report.deleted,
                         refused=report.refused)
    except Exception as e:
        await _save_counts(ctx, report, status=SweepStatus.FAILED, error=f"{type(e).__name__}: {e}"[:2000])
        raise
    async with transaction(ctx.sessions) as s:
        await _save_counts(ctx, report, status=SweepStatus.DONE, session=s)
        await audit.record(s, actor, "retention.sweep_finished", "sweep", report.sweep_id,
                           {"as_of": as_of, "dry_run": dry_run, "due": report.due, "deleted": report.deleted,
                            "refused": report.refused, "bytes": report.bytes})
    if not dry_run:
        metrics.RETENTION_SWEEP_LAST_SUCCESS.set(utcnow().timestamp())
    return report


async def _save_counts(ctx: Context, report: SweepReport, *, status: SweepStatus | None = None, error: str | None = None,
                       session=None) -> None:
    async def save(s) -> None:
        row = await repo.get_sweep(s, report.sweep_id)
        row.due, row.deleted, row.refused, row.bytes_deleted = report.due, report.deleted, report.refused, report.bytes
        if status:
            row.status, row.finished_at, row.error = status, utcnow(), error

    if session is not None:
        await save(session)
        return
    async with transaction(ctx.sessions) as s:
        await save(s)


def _policy_line(ctx: Context, rec: Recording) -> str:
    policy = ctx.policies.retention
    cat = policy.categories.get(rec.retention_category) or policy.categories[policy.default_category]
    basis = "trusted capture" if rec.time_trust != TimeTrust.UNTRUSTED else "receipt (camera clock untrusted)"
    return f"retention.yaml {rec.retention_category}: {cat.retain_days} days from {basis}"


async def _delete_copies(ctx: Context, rows: list[Recording]) -> set[str]:
    """Delete every stored copy of each row: the copy of record in its tier's store and the second copy the
    row accounts for (cold tier: a move's target, a hot original, a restored copy). The second copies go
    first, so a refusal there leaves the copy of record and the row as they were. Returns the ids storage
    refused (Object Lock)."""
    failed: set[str] = set()
    cold = ctx.cold
    for pick in ("other", "record"):
        by_store: dict[int, tuple] = {}
        for r in rows:
            if r.id in failed:
                continue
            if pick == "other":
                if not r.other_key:
                    continue
                store, key, version = cold.other_store(r.storage_tier), r.other_key, r.other_version
            else:
                store, key, version = cold.store_of(r.storage_tier), r.storage_key, r.storage_version
            entry = by_store.setdefault(id(store), (store, [], {}, {}))
            entry[1].append(key)
            entry[3][key] = r.id
            if version:
                entry[2][key] = version
        for store, keys, versions, owner in by_store.values():
            failed.update(owner[k] for k in await store.delete(keys, versions))
    return failed


async def _finish_deleting(ctx: Context, actor: Principal, report: SweepReport, keep: list[str], *,
                           ids: list[str] | None, batch: int) -> None:
    """Delete the stored copies of ``deleting`` rows (these ``ids``, or all left by a crash) and
    tombstone them, unless protection arrived meanwhile."""
    while True:
        async with transaction(ctx.sessions) as s:
            rows = await repo.lock_deleting(s, batch, ids)
            if not rows:
                return
            protected = await repo.protected_ids(s, [r.id for r in rows], keep, report.as_of)
            cancel, lost = [], []
            for r in rows:
                if r.id in protected:
                    # Protection wins while the bytes exist; if a crash already removed them, say so.
                    exists = await ctx.cold.store_of(r.storage_tier).head(r.storage_key)
                    (cancel if exists else lost).append(r)
            doomed = [r for r in rows if r.id not in protected] + lost
            failed = await _delete_copies(ctx, doomed)
            # A working copy goes with its master (it is never object-locked: the master is the evidence).
            copies = [r.working_copy_key for r in doomed if r.working_copy_key and r.id not in failed]
            if copies and (left := await ctx.store.delete(copies)):
                log.warning("working_copies_not_deleted", keys=left)
            now = utcnow()
            events = []
            tombstones: dict[tuple[str, str], list[str]] = defaultdict(list)
            for r in cancel:
                r.status = RecordingStatus.ACTIVE
                events.append(("recording.deletion_cancelled", "recording", r.id,
                               {"sweep_id": report.sweep_id, "why": "protected by a flag or hold"}))
            for r in doomed:
                if r.id in failed:
                    r.status = RecordingStatus.ACTIVE
                    report.refused += 1
                    report.refused_ids.add(r.id)
                    events.append(("recording.deletion_refused", "recording", r.id,
                                   {"sweep_id": report.sweep_id, "why": "storage refused (Object Lock)"}))
                    await alerts.raise_alert(s, AlertKind.DELETION_REFUSED, "recording", r.id,
                                              f"Storage refused to delete {r.id} (legal hold or retention lock); "
                                              "it is kept. Check its flags and holds.")
                    continue
                policy = _policy_line(ctx, r)
                reason = f"retention period ended; deleted by sweep {report.sweep_id} as of {iso(report.as_of)}"
                if r in lost:
                    reason += " (a hold arrived after the bytes were already removed)"
                    await alerts.raise_alert(s, AlertKind.HELD_RECORDING_LOST, "recording", r.id,
                                              f"{r.id} was placed under protection while a sweep was deleting it; "
                                              "its bytes were already gone.", severity=Severity.CRITICAL)
                tombstones[(policy, reason)].append(r.id)
                report.deleted += 1
                report.bytes += r.size_bytes
                events.append(("recording.deleted", "recording", r.id,
                               {"sweep_id": report.sweep_id, "sha256": r.sha256, "size_bytes": r.size_bytes,
                                "delete_after": r.delete_after, "as_of": report.as_of, "policy": policy,
                                "storage_key": r.storage_key, "storage_tier": r.storage_tier,
                                "other_key": r.other_key, "officer_id": r.officer_id,
                                "device_id": r.device_id}))
                if len(report.items) < 1000:
                    report.items.append((r.id, r.delete_after))
            for (policy, reason), rids in tombstones.items():  # one UPDATE per distinct tombstone
                await repo.tombstone(s, rids, at=now, policy=policy, reason=reason)
            await audit.record_many(s, actor, events)
        metrics.RETENTION_DELETED.inc(sum(1 for e in events if e[0] == "recording.deleted"))
        if ids is not None:
            return
