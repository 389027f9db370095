"""The ICO's subject access deadline: a calendar month from the day of receipt (day one), clamped to the month's
end, moved off weekends and bank holidays; days are London days. The properties check the module against an
independent month-arithmetic oracle and against the bank holiday data itself."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.sar.deadline import (
    SUBDIVISIONS,
    days_left,
    due_at,
    due_date,
    is_working_day,
    next_working_day,
    nominal_due,
    receipt_day,
)

LONDON = ZoneInfo("Europe/London")
# The holidays package has GB data for 1872-2100; starts up to 2099 keep even a two-month extension
# (and its working-day shift) inside it.
starts = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
subdivs = st.sampled_from(SUBDIVISIONS)
months = st.integers(min_value=1, max_value=3)
# The longest run of weekend and bank holiday days in any UK calendar, 2000-2100 (Easter, Christmas on a
# weekend, Scotland's 1-2 January on a weekend, the 2022 Jubilee): the most a due day can move.
LONGEST_CLOSURE = 4


def clamped(start: date, n: int) -> date:
    """Oracle written apart from the module: same day ``n`` months on, or that month's last day."""
    y, m = divmod(start.month - 1 + n, 12)
    year, month = start.year + y, m + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def london_offset(instant: datetime) -> timedelta:
    """UK summer time by the statute, not by zoneinfo: last Sunday of March to last Sunday of October, 01:00 UTC."""
    def last_sunday(year: int, month: int) -> datetime:
        d = date(year, month, calendar.monthrange(year, month)[1])
        d -= timedelta(days=(d.weekday() - 6) % 7)
        return datetime(d.year, d.month, d.day, 1, tzinfo=UTC)
    u = instant.astimezone(UTC)
    return timedelta(hours=1) if last_sunday(u.year, 3) <= u < last_sunday(u.year, 10) else timedelta(0)


@pytest.mark.parametrize(("start", "nominal", "due"), [
    (date(2026, 9, 3), date(2026, 10, 3), date(2026, 10, 5)),      # 3 Oct 2026 is a Saturday
    (date(2026, 5, 30), date(2026, 6, 30), date(2026, 6, 30)),
    (date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 2)),      # clamped, then Sat -> Mon
    (date(2024, 1, 31), date(2024, 2, 29), date(2024, 2, 29)),     # leap year
    (date(2026, 8, 31), date(2026, 9, 30), date(2026, 9, 30)),
    (date(2026, 11, 25), date(2026, 12, 25), date(2026, 12, 29)),  # Christmas Fri, weekend, Boxing Day Mon
    (date(2024, 2, 29), date(2024, 3, 29), date(2024, 4, 2)),      # Good Friday to Easter Monday
    (date(2026, 12, 15), date(2027, 1, 15), date(2027, 1, 15)),    # year rolls over
])
def test_examples(start, nominal, due):
    assert nominal_due(start) == nominal
    assert due_date(start) == due


def test_boxing_day_substitute_comes_from_the_data():
    eng = holidays.country_holidays("GB", subdiv="ENG", years=2026)
    assert date(2026, 12, 28) in eng and date(2026, 12, 26).weekday() == 5
    assert [is_working_day(date(2026, 12, d)) for d in range(24, 30)] == [True, False, False, False, False, True]


def test_extension_counts_from_the_clock_start_not_the_shifted_due_day():
    start = date(2026, 1, 31)
    assert due_date(start, 1) == date(2026, 3, 2)
    assert nominal_due(start, 3) == date(2026, 4, 30) == due_date(start, 3)  # not 2 May from 2 March
    assert nominal_due(start, 2) == date(2026, 3, 31)


def test_other_uk_calendars():
    assert due_date(date(2025, 12, 2)) == date(2026, 1, 2)
    assert due_date(date(2025, 12, 2), subdiv="SCT") == date(2026, 1, 5)   # 2 January is a Scottish holiday
    assert due_date(date(2026, 2, 17), subdiv="NIR") == date(2026, 3, 18)  # St Patrick's Day
    assert due_date(date(2026, 2, 17), subdiv="WLS") == date(2026, 3, 17)
    with pytest.raises(ValueError):
        is_working_day(date(2026, 1, 1), "GB")


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        receipt_day(datetime(2026, 5, 31, 23, 30))
    with pytest.raises(ValueError):
        nominal_due(date(2026, 1, 1), 0)


def test_receipt_day_is_the_london_date():
    assert receipt_day(datetime(2026, 5, 31, 23, 30, tzinfo=UTC)) == date(2026, 6, 1)   # BST
    assert receipt_day(datetime(2026, 1, 31, 23, 30, tzinfo=UTC)) == date(2026, 1, 31)  # GMT
    assert receipt_day(datetime(2026, 6, 1, 1, 0, tzinfo=timezone(timedelta(hours=9)))) == date(2026, 5, 31)


@pytest.mark.parametrize(("d", "end"), [
    (date(2026, 6, 30), datetime(2026, 6, 30, 22, 59, 59, 999999, tzinfo=UTC)),   # BST
    (date(2026, 12, 29), datetime(2026, 12, 29, 23, 59, 59, 999999, tzinfo=UTC)),  # GMT
    (date(2026, 3, 29), datetime(2026, 3, 29, 22, 59, 59, 999999, tzinfo=UTC)),    # clocks went forward at 01:00
    (date(2026, 10, 25), datetime(2026, 10, 25, 23, 59, 59, 999999, tzinfo=UTC)),  # clocks went back at 02:00
])
def test_due_at_is_the_end_of_the_london_day(d, end):
    assert due_at(d) == end and due_at(d).tzinfo is UTC


def test_days_left_counts_london_days():
    due = date(2026, 6, 30)
    assert days_left(due, datetime(2026, 5, 31, 22, 30, tzinfo=UTC)) == 30
    assert days_left(due, datetime(2026, 5, 31, 23, 30, tzinfo=UTC)) == 29  # 1 June in London
    assert days_left(due, datetime(2026, 6, 29, 23, 30, tzinfo=UTC)) == 0   # already 30 June in London
    assert days_left(due, datetime(2026, 7, 1, 12, 0, tzinfo=UTC)) == -1


def test_longest_closure_is_what_the_data_says():
    """Scan every start of a run of non-working days: the bound the due_date property asserts is exact."""
    longest = 0
    for subdiv in SUBDIVISIONS:
        d = date(2000, 1, 1)
        while d <= date(2100, 3, 31):
            run = 0
            while not is_working_day(d, subdiv):
                run, d = run + 1, d + timedelta(days=1)
            longest = max(longest, run)
            d += timedelta(days=1)
    assert longest == LONGEST_CLOSURE


@settings(max_examples=300)
@given(start=starts, n=months)
def test_nominal_due_is_the_clamped_corresponding_date(start, n):
    nominal = nominal_due(start, n)
    assert nominal == clamped(start, n)
    assert (nominal.year * 12 + nominal.month) - (start.year * 12 + start.month) == n
    last = calendar.monthrange(nominal.year, nominal.month)[1]
    assert nominal.day == start.day or (start.day > last and nominal.day == last)
    if n == 1:
        assert 28 <= (nominal - start).days <= 31


@settings(max_examples=300)
@given(start=starts, n=months, subdiv=subdivs)
def test_due_date_is_the_first_working_day_from_nominal(start, n, subdiv):
    nominal, due = nominal_due(start, n), due_date(start, n, subdiv)
    assert is_working_day(due, subdiv) and due.weekday() < 5
    assert nominal <= due and (due - nominal).days <= LONGEST_CLOSURE
    assert all(not is_working_day(nominal + timedelta(days=i), subdiv) for i in range((due - nominal).days))
    assert next_working_day(due, subdiv) == due


@settings(max_examples=300)
@given(a=starts, b=starts, n=months, subdiv=subdivs)
def test_a_later_start_is_never_due_sooner(a, b, n, subdiv):
    a, b = sorted((a, b))
    assert due_date(a, n, subdiv) <= due_date(b, n, subdiv)


@settings(max_examples=200)
@given(start=starts, subdiv=subdivs)
def test_extension_adds_about_two_months(start, subdiv):
    # Two more months span at least 59 days (Feb + Mar, or Jan's 31st to Mar's 31st); the one-month due
    # day can have moved up to LONGEST_CLOSURE days off its nominal date.
    assert (due_date(start, 3, subdiv) - due_date(start, 1, subdiv)).days >= 59 - LONGEST_CLOSURE
    # Clamping only ever loses days, so counting from the start is never earlier than chaining months.
    assert nominal_due(start, 3) >= nominal_due(nominal_due(start, 1), 2)


@given(year=st.integers(2000, 2099).filter(calendar.isleap))
def test_leap_years(year):
    assert nominal_due(date(year, 1, 31)) == date(year, 2, 29)
    assert nominal_due(date(year, 2, 29)) == date(year, 3, 29)
    assert nominal_due(date(year, 2, 29), 3) == date(year, 5, 29)


zones = st.sampled_from([UTC, LONDON, ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo"),
                         ZoneInfo("Pacific/Kiritimati"), timezone(timedelta(hours=-11, minutes=-30))])


@settings(max_examples=500)
@given(instant=st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30), timezones=zones))
def test_receipt_day_and_due_at_round_trip(instant):
    d = receipt_day(instant)
    assert d == (instant.astimezone(UTC) + london_offset(instant)).date()
    end = due_at(d)
    # Every instant of London day d is at or before its due_at; every instant of d + 1 is after it.
    assert due_at(d - timedelta(days=1)) < instant <= end
    assert receipt_day(end) == d and receipt_day(end + timedelta(microseconds=1)) == d + timedelta(days=1)
    assert end.astimezone(UTC).date() == d
    assert days_left(d, end) == 0 and days_left(d, end + timedelta(microseconds=1)) == -1
