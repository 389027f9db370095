"""When may a recording be deleted? A pure function, so it can be tested as a property.

Rule 1: anything held, or in a category without a period, is never due (None).
Rule 2: periods count from ``basis_start`` (trusted capture, or receipt when the clock is untrusted),
and never end sooner than ``min_days_after_upload`` after receipt.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from service.policies import RetentionPolicy


def keep_categories(policy: RetentionPolicy) -> list[str]:
    """Categories without a period: what they flag is kept until the flag is removed."""
    return [name for name, c in policy.categories.items() if c.retain_days is None]


def delete_after(policy: RetentionPolicy, *, basis_start: datetime, received_at: datetime,
                 categories: Iterable[tuple[str, datetime]] = (), held: bool = False) -> datetime | None:
    """``categories`` are (category, since) pairs from flags; the default category always applies.

    A category's period counts from the later of the capture basis and when it was applied, so
    flagging old footage for training keeps it for the whole training period. The longest wins.
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
    return max(floor, *candidates)
