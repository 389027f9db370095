"""Public statistics: counts per whole calendar month (UTC), never a narrower window.

Any window would let an anonymous caller pin an event down: 23 requests with ever narrower windows
placed a restriction to the millisecond. So ``from`` and ``to`` only choose months: an instant means
the whole month it falls in, and every answer is the answer for whole months.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from service.errors import Invalid
from service.stats import repository as repo
from service.stats.schemas import MonthStats, StatsOut
from service.timeutil import as_utc

FIELDS = ("uploaded", "auto_deleted", "flagged", "held", "restricted", "shared", "sars_received", "sars_closed",
          "sars_overdue", "reviews_due", "reviews_decided", "reviews_overdue")
DEFAULT_MONTHS = 12


def month_start(t: datetime) -> datetime:
    t = as_utc(t)
    return datetime(t.year, t.month, 1, tzinfo=UTC)


def add_months(t: datetime, n: int) -> datetime:
    """The first instant of the month ``n`` months after the one ``t`` starts (``t`` a month start)."""
    k = t.year * 12 + t.month - 1 + n
    return datetime(k // 12, k % 12 + 1, 1, tzinfo=UTC)


def whole_months(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """[first instant of start's month, first instant after end's month). Defaults: the 12 months up to
    and including now's."""
    last = month_start(end or now)
    try:
        first = month_start(start) if start is not None else add_months(last, 1 - DEFAULT_MONTHS)
        after = add_months(last, 1)
    except ValueError as e:  # a month before year 1 or after 9999 (to=0001-02-01 asks for 12 months to it)
        raise Invalid("the months asked for fall outside the years 1 to 9999", slug="invalid-window") from e
    if first > last:
        raise Invalid("'from' must not be in a later month than 'to'", slug="invalid-window")
    return first, after


async def stats(s: AsyncSession, start: datetime | None, end: datetime | None, now: datetime) -> StatsOut:
    """Public (no principal: anyone may ask, and counts are all anyone gets)."""
    start, end = whole_months(start, end, now)
    raw = await repo.counts(s, start, end)
    months = sorted({m for per in raw.values() for m in per})
    rows = [MonthStats(month=m, **{f: raw[f].get(m, 0) for f in FIELDS}) for m in months]
    totals = MonthStats(month="total", **{f: sum(raw[f].values()) for f in FIELDS})
    return StatsOut(from_=start, to=end, totals=totals, months=rows)
