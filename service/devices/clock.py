"""The clock decision at the dock, as a pure function so it can be tested as a property.

Rule 2: retention never counts from an untrusted device time. A recording's times are
"device" (the camera clock was right), "corrected" (shifted by the drift measured at the dock, and
the result is plausible) or "untrusted" (no trusted capture time; retention counts from receipt).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from service.policies import ClockPolicy


class TimeTrust(StrEnum):
    DEVICE = "device"  # the camera clock was right
    CORRECTED = "corrected"  # shifted by the drift measured at the dock
    UNTRUSTED = "untrusted"  # retention counts from receipt


@dataclass(frozen=True)
class ClockAssessment:
    drift_s: float  # server clock minus camera clock at the dock; positive = camera behind
    fault: str | None  # why the clock is faulty, or None
    time_trust: TimeTrust
    trusted_start: datetime | None
    trusted_end: datetime | None


def assess(policy: ClockPolicy, server_now: datetime, device_clock_at_dock: datetime,
           recorded_start: datetime, recorded_end: datetime) -> ClockAssessment:
    drift = (server_now - device_clock_at_dock).total_seconds()
    earliest = policy.earliest_plausible
    future = server_now + timedelta(seconds=policy.future_tolerance_s)

    fault = None
    if device_clock_at_dock < earliest:
        fault = f"camera clock read {device_clock_at_dock.isoformat()} at the dock (before {earliest.year})"
    elif device_clock_at_dock > future:
        fault = "camera clock is ahead of the server (in the future)"
    elif abs(drift) > policy.max_drift_s:
        fault = f"camera clock drifted {drift:+.0f} s (threshold {policy.max_drift_s:.0f} s)"
    elif recorded_start < earliest or recorded_end > future or recorded_start > future:
        fault = "recording times are implausible (before the earliest plausible date or in the future)"

    if fault is None:
        return ClockAssessment(drift, None, TimeTrust.DEVICE, recorded_start, recorded_end)

    shift = timedelta(seconds=drift)
    try:
        start, end = recorded_start + shift, recorded_end + shift
    except OverflowError:  # an absurd date (year 1 or 9999) shifted past what a datetime holds: untrusted
        return ClockAssessment(drift, fault, TimeTrust.UNTRUSTED, None, None)
    plausible = (
        earliest <= start <= end
        and end <= future
        and start >= server_now - timedelta(days=policy.max_correction_age_days)
    )
    if plausible:
        return ClockAssessment(drift, fault, TimeTrust.CORRECTED, start, end)
    return ClockAssessment(drift, fault, TimeTrust.UNTRUSTED, None, None)
