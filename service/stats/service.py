from __future__ import annotations

from datetime import datetime

from service.context import Context
from service.errors import Invalid
from service.stats import repository as repo
from service.stats.schemas import MonthStats, StatsOut

FIELDS = ("uploaded", "auto_deleted", "flagged", "held", "restricted", "shared", "sars_received", "sars_closed",
          "sars_overdue")


async def stats(ctx: Context, start: datetime, end: datetime) -> StatsOut:
    if end <= start:
        raise Invalid("'to' must be after 'from'", slug="invalid-window")
    async with ctx.sessions() as s:
        raw = await repo.counts(s, start, end)
    months = sorted({m for per in raw.values() for m in per})
    rows = [MonthStats(month=m, **{f: raw[f].get(m, 0) for f in FIELDS}) for m in months]
    totals = MonthStats(month="total", **{f: sum(raw[f].values()) for f in FIELDS})
    return StatsOut(from_=start, to=end, totals=totals, months=rows)
