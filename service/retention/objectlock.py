"""S3 Object Lock retention for protected footage, rolled forward while protection holds.

A legal hold stops deletes, but whoever holds the app's S3 key may also lift it (the service must, when
footage is unflagged). COMPLIANCE retention cannot be shortened or removed by anyone, root included,
before its date. So evidence and held footage (the same "protected" as the sweep's) also carry
retention until a horizon ``BWV_OBJECT_LOCK_RETAIN_DAYS`` ahead, which this job extends every
``BWV_OBJECT_LOCK_ROLL_INTERVAL_S`` and never shortens. A stolen key can then destroy evidence only after
the service has stopped rolling for that many days.

The price: when protection ends (unflag, hold released) the retention is left to run out, since it cannot
be shortened; until then the sweep's delete of that footage is refused by storage, reported and retried.
Footage can therefore outlive its retention rule by up to the horizon. Local disk has no Object Lock:
every call here is a no-op there.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog

from service.alerts import service as alerts
from service.alerts.models import AlertKind, Severity
from service.config import Settings
from service.context import Context
from service.db import transaction
from service.retention import repository as repo
from service.retention.rules import keep_categories
from service.timeutil import utcnow

log = structlog.get_logger(__name__)
PAGE = 500


def horizon(settings: Settings, now: datetime | None = None) -> datetime:
    """``retain_days`` ahead, rounded up to the next UTC midnight: every process rolling on one day asks
    for the same date, so a roll costs one PutObjectRetention per object per day, not one per run."""
    t = (now or utcnow()) + timedelta(days=settings.object_lock_retain_days)
    day = datetime(t.year, t.month, t.day, tzinfo=UTC)
    return day if day == t else day + timedelta(days=1)


async def roll_forward(ctx: Context, now: datetime | None = None) -> int:
    """Extend the retention of every protected recording's object to the horizon; returns how many were
    visited (0 when the store has no Object Lock). A failure on one object is logged and the rest go on."""
    until = horizon(ctx.settings, now)
    keep = keep_categories(ctx.policies.retention)
    done, failed, after = 0, 0, None
    while True:
        async with ctx.sessions() as s:
            rows = await repo.protected_keys(s, keep, after=after, limit=PAGE)
        if not rows:
            break
        for rid, key in rows:
            try:
                if not await ctx.store.extend_retention(key, until):
                    return 0  # no Object Lock on this store: nothing to roll
                done += 1
            except Exception as e:  # the database and the legal hold still protect it; say so
                failed += 1
                log.error("object_lock_roll_failed", recording_id=rid, error=str(e))
        after = rows[-1][0]
    log.info("object_lock_rolled", recordings=done, failed=failed, until=until.isoformat())
    return done


async def sync_legal_holds(ctx: Context, recording_ids: list[str]) -> None:
    """Mirror protection onto S3 Object Lock legal holds and COMPLIANCE retention, where the bucket has
    Object Lock. Runs after the change that protects or releases footage has committed (services register it
    with ``after_commit``): storage follows the database, never the other way round."""
    if not recording_ids:
        return
    keep = keep_categories(ctx.policies.retention)
    async with ctx.sessions() as s:
        rows = await repo.active_keys(s, recording_ids)
        protected = await repo.protected_ids(s, [rid for rid, _ in rows], keep, utcnow())
    until = horizon(ctx.settings)
    for rid, key in rows:
        try:
            await ctx.store.set_legal_hold(key, rid in protected)
            if rid in protected:  # released footage keeps its retention until it runs out (above)
                await ctx.store.extend_retention(key, until)
        except Exception as e:  # the database still protects it; say so loudly
            log.error("legal_hold_sync_failed", recording_id=rid, error=str(e))
            async with transaction(ctx.sessions) as s:  # its own unit of work: the change it follows committed
                await alerts.raise_alert(s, AlertKind.LEGAL_HOLD_FAILED, "recording", rid,
                                         f"Could not set the storage legal hold on {rid}: {e}",
                                         severity=Severity.CRITICAL)
