"""When may a recording be deleted? A pure function, so it can be tested as a property.

Rule 1: anything held, or in a category without a period, is never due (None).
Rule 2: periods count from ``basis_start`` (trusted capture, or receipt when the clock is untrusted),
and never end sooner than ``min_days_after_upload`` after receipt.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta

from service.policies import RetentionPolicy


def keep_categories(policy: RetentionPolicy) -> list[str]:
    """Categories without a period: what they flag is kept until the flag is removed."""
    return [name for name, c in policy.categories.items() if c.retain_days is None]


def delete_after(policy: RetentionPolicy, *, basis_start: datetime, received_at: datetime,
                 categories: Iterable[tuple[str, datetime]] = (), held: bool = False,
                 not_before: Iterable[datetime | None] = ()) -> datetime | None:
    """``categories`` are (category, since) pairs from flags; the default category always applies.

    A category's period counts from the later of the capture basis and when it was applied, so
    flagging old footage for training keeps it for the whole training period. The longest wins.
    ``not_before``: dates it must outlive whatever the rule says (a case's retain_until, a review's
    release floor).
    """
    if held:
        return None
    floor = received_at + timedelta(days=policy.min_days_after_upload)
    default = policy.categories[policy.default_category]
    assert default.retain_days is not None
    candidates = [basis_start + timedelta(days=default.retain_days)]
    for name, since in categories:
        cat = policy.categories.get(name)
        if cat is None or cat.retain_days is None:
            return None  # unknown categories are treated as "keep": never delete on a typo
        candidates.append(max(basis_start, since) + timedelta(days=cat.retain_days))
    return max(floor, *candidates, *(d for d in not_before if d is not None))


def outcome_dates(policy: RetentionPolicy, outcome: str, *, decided_at: datetime,
                  custody_release_at: datetime | None = None,
                  appeal_until: datetime | None = None) -> tuple[datetime | None, datetime]:
    """(retain_until, review_at) of a decided case's exhibits under ``policy.case_outcomes``.

    retain_until: the latest of ``retain_months`` after the decision, the custody release (when the rule
    keeps until release) and the end of any appeal; None when the outcome sets no such date. The review
    comes on that date, or ``review_after_days`` after the decision, whichever is later.
    """
    rule = policy.case_outcomes[outcome]
    dates = []
    if rule.retain_months is not None:
        dates.append(decided_at + relativedelta(months=+rule.retain_months))
    if rule.until_custody_release and custody_release_at is not None:
        dates.append(custody_release_at)
    if appeal_until is not None:
        dates.append(appeal_until)
    retain_until = max(dates) if dates else None
    review_at = decided_at + timedelta(days=rule.review_after_days)
    if retain_until is not None:
        review_at = max(review_at, retain_until)
    return retain_until, review_at


def released_floor(policy: RetentionPolicy, released_at: datetime) -> datetime:
    """A protection released by a review leaves the footage at least ``min_days_after_upload`` more days
    (time for an officer to see it in their digest and flag it again)."""
    return released_at + timedelta(days=policy.min_days_after_upload)
