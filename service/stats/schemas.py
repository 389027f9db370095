from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class MonthStats(BaseModel):
    month: str
    uploaded: int = 0
    auto_deleted: int = 0
    flagged: int = 0
    held: int = 0
    restricted: int = 0
    shared: int = 0
    sars_received: int = 0
    sars_closed: int = 0
    sars_overdue: int = 0
    reviews_due: int = 0  # retention reviews that fell due in the month
    reviews_decided: int = 0
    reviews_overdue: int = 0  # fell due in the month and left undecided past the grace


class StatsOut(BaseModel):
    """Counts only: no ids, names or references (it is published on the transparency page).

    ``[from, to)`` is the whole-month window counted (UTC month starts)."""

    from_: datetime = Field(alias="from")
    to: datetime
    totals: MonthStats
    months: list[MonthStats]

    model_config = {"populate_by_name": True}
