"""DESIGN.md rule 2 as properties: whatever a camera clock says, retention never counts from an
untrusted device time, and never deletes sooner than the policy floor after receipt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from service.devices.clock import assess
from service.policies import load_policies
from service.retention import rules

POLICIES = load_policies(Path(__file__).resolve().parents[2] / "policies")
CLOCK, RETENTION = POLICIES.clock, POLICIES.retention
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

times = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC))
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=12))


@settings(max_examples=500)
@given(dock=times, start=times, length=durations, received_later=st.timedeltas(min_value=timedelta(0),
                                                                                max_value=timedelta(minutes=5)))
def test_retention_never_counts_from_an_untrusted_clock(dock, start, length, received_later):
    result = assess(CLOCK, NOW, dock, start, start + length)
    received = NOW + received_later
    basis = result.trusted_start or received
    due = rules.delete_after(RETENTION, basis_start=basis, received_at=received)
    assert due >= received + timedelta(days=RETENTION.min_days_after_upload)
    if result.time_trust == "untrusted":
        assert result.trusted_start is None and result.fault
        assert due == received + timedelta(days=31)
    elif result.time_trust == "corrected":
        assert result.fault
        # A corrected time is plausible: after the earliest date, not after receipt, not too old.
        assert CLOCK.earliest_plausible <= result.trusted_start <= result.trusted_end
        assert result.trusted_end <= NOW + timedelta(seconds=CLOCK.future_tolerance_s)
        assert result.trusted_start >= NOW - timedelta(days=CLOCK.max_correction_age_days)
    else:
        assert result.fault is None and result.trusted_start == start
        assert abs(result.drift_s) <= CLOCK.max_drift_s


@given(dock=st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2009, 12, 31), timezones=st.just(UTC)),
       start=times)
def test_a_clock_before_2010_is_always_a_fault(dock, start):
    assert assess(CLOCK, NOW, dock, start, start).fault is not None


@given(ahead=st.timedeltas(min_value=timedelta(seconds=CLOCK.future_tolerance_s + 1), max_value=timedelta(days=9000)))
def test_a_clock_in_the_future_is_a_fault(ahead):
    r = assess(CLOCK, NOW, NOW + ahead, NOW - timedelta(hours=1), NOW)
    assert r.fault is not None and r.time_trust != "device"


categories = st.lists(st.tuples(st.sampled_from(sorted(RETENTION.categories)), times), max_size=4)


@given(basis=times, received_gap=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)),
       cats=categories, extra=st.tuples(st.sampled_from(sorted(RETENTION.categories)), times))
def test_more_categories_never_shorten_retention_and_holds_keep_everything(basis, received_gap, cats, extra):
    received = basis + received_gap
    before = rules.delete_after(RETENTION, basis_start=basis, received_at=received, categories=cats)
    after = rules.delete_after(RETENTION, basis_start=basis, received_at=received, categories=[*cats, extra])
    if before is None:
        assert after is None
    else:
        assert after is None or after >= before
    assert rules.delete_after(RETENTION, basis_start=basis, received_at=received, categories=cats, held=True) is None
    if any(RETENTION.categories[c].retain_days is None for c, _ in cats):
        assert before is None
