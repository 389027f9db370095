"""Subject access deadlines by the ICO's rule (UK GDPR art. 12(3), DPA 2018): the day of receipt is day one,
the request is due on the corresponding date a calendar month later (the month's last day when that date does
not exist), and a due day on a weekend or bank holiday moves to the next working day.

Days are UK calendar days: a request emailed at 00:30 BST on 1 June was received on 1 June, although it is
still 31 May in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
from dateutil.relativedelta import relativedelta

LONDON = ZoneInfo("Europe/London")
SUBDIVISIONS = ("ENG", "WLS", "SCT", "NIR")


@cache
def _bank_holidays(subdiv: str) -> holidays.HolidayBase:
    # One object per calendar: it fills in years lazily as they are asked about, so keeping it keeps that work.
    if subdiv not in SUBDIVISIONS:
        raise ValueError(f"unknown UK bank holiday calendar {subdiv!r}; expected one of {', '.join(SUBDIVISIONS)}")
    return holidays.country_holidays("GB", subdiv=subdiv)


def receipt_day(received_at: datetime) -> date:
    """The London calendar date of an instant; a naive time is refused, since its day would be a guess."""
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware")
    return received_at.astimezone(LONDON).date()


def nominal_due(start: date, months: int = 1) -> date:
    """The corresponding date ``months`` calendar months after ``start``, before any working-day shift.

    dateutil's relativedelta does the month arithmetic: it clamps to the month's last day (31 Jan → 28/29 Feb),
    which is the ICO's rule for a date the month lacks. Always counted from the clock start, so an extension
    does not compound an earlier weekend shift.
    """
    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}")
    return start + relativedelta(months=+months)


def is_working_day(d: date, subdiv: str = "ENG") -> bool:
    return d.weekday() < 5 and d not in _bank_holidays(subdiv)


def next_working_day(d: date, subdiv: str = "ENG") -> date:
    while not is_working_day(d, subdiv):
        d += timedelta(days=1)
    return d


def due_date(start: date, months: int = 1, subdiv: str = "ENG") -> date:
    return next_working_day(nominal_due(start, months), subdiv)


def due_at(d: date) -> datetime:
    """The last instant of London day ``d``, in UTC: a request is overdue only once its whole due day has gone.

    London is never more than an hour ahead of UTC, so the UTC date of that instant is ``d`` too.
    """
    return datetime.combine(d, time.max, tzinfo=LONDON).astimezone(UTC)


def days_left(due: date, now: datetime) -> int:
    """London calendar days from today to the due day: 0 on the day itself, negative once overdue."""
    return (due - receipt_day(now)).days
