"""CPIA dates against worked examples, and the rules of what keeps a recording as properties (issue 15):
nothing kept lacks a date or a review, and nothing is due before a decided case's retain_until."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.config import ConfigError
from service.policies import RetentionPolicy, load_file, load_policies
from service.retention import kept, rules
from service.retention.models import KeptKind

ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policies(ROOT / "policies").retention


def d(y: int, m: int, day: int) -> datetime:
    return datetime(y, m, day, 12, tzinfo=UTC)


@pytest.mark.parametrize("name,outcome,decided,custody,appeal,until,review", [
    # The note's example: released from custody after the six months, so the release date wins.
    ("custody release after six months", "convicted", d(2025, 10, 28), d(2026, 5, 16), None,
     d(2026, 5, 16), d(2026, 5, 16)),
    ("released before six months", "convicted", d(2025, 10, 28), d(2026, 1, 10), None, d(2026, 4, 28), d(2026, 4, 28)),
    ("no custody (a fine): six months", "convicted", d(2025, 8, 31), None, None, d(2026, 2, 28), d(2026, 2, 28)),
    ("an appeal lodged late outlasts both", "convicted", d(2025, 10, 28), d(2026, 5, 16), d(2027, 12, 2),
     d(2027, 12, 2), d(2027, 12, 2)),
    ("acquitted: review after 90 days", "acquitted", d(2026, 3, 1), None, None, None, d(2026, 5, 30)),
    ("acquitted, prosecution appeal pending", "acquitted", d(2026, 3, 1), None, d(2026, 9, 1), d(2026, 9, 1),
     d(2026, 9, 1)),
    ("no further action", "no_further_action", d(2026, 3, 1), None, None, None, d(2026, 5, 30)),
])
def test_cpia_worked_examples(name, outcome, decided, custody, appeal, until, review) -> None:
    got = rules.outcome_dates(POLICY, outcome, decided_at=decided, custody_release_at=custody, appeal_until=appeal)
    assert got == (until, review), name


def test_case_outcomes_are_validated_at_start_up(tmp_path) -> None:
    text = (ROOT / "policies" / "retention.yaml").read_text()
    bad = tmp_path / "retention.yaml"
    bad.write_text(text.replace("  other:\n    description: \"Kept for a review after 90 days.\"\n"
                                "    review_after_days: 90\n", "  others:\n    review_after_days: 90\n"))
    with pytest.raises(ConfigError, match="case_outcomes"):
        load_file(bad, RetentionPolicy)
    bad.write_text(text.replace("retain_months: 6", "retain_months: -6"))
    with pytest.raises(ConfigError, match=r"line \d+: case_outcomes.convicted.retain_months"):
        load_file(bad, RetentionPolicy)


T0 = d(2024, 1, 1)
instants = st.integers(min_value=0, max_value=3 * 365 * 24).map(lambda h: T0 + timedelta(hours=h))
categories = st.sampled_from(["evidence", "complaint", "training", "unknown-typo"])


@st.composite
def situations(draw):
    """A recording's flags, holds (some a case's) and the outcomes of the cases it is an exhibit of."""
    cases = draw(st.lists(st.sampled_from(["c1", "c2", "c3"]), unique=True, max_size=3))
    flags = [SimpleNamespace(id=f"f{i}", category=draw(categories), created_at=draw(instants), source=None)
             for i in range(draw(st.integers(0, 3)))]
    flags += [SimpleNamespace(id=f"fc{c}", category="evidence", created_at=draw(instants), source=f"case:{c}")
              for c in cases if draw(st.booleans())]
    holds = [SimpleNamespace(id=f"h{i}", kind=draw(st.sampled_from(["legal", "complaint", "iopc", "sar", "odd"])),
                             created_at=draw(instants)) for i in range(draw(st.integers(0, 2)))]
    case_of_hold = {}
    outcomes = {}
    for c in cases:
        decided = draw(instants)
        if draw(st.booleans()):
            outcomes[c] = SimpleNamespace(
                outcome=draw(st.sampled_from(["convicted", "acquitted", "no_further_action", "discontinued", "other"])),
                decided_at=decided,
                custody_release_at=draw(st.none() | instants.map(lambda t, dd=decided: max(t, dd))),
                appeal_until=draw(st.none() | instants.map(lambda t, dd=decided: max(t, dd))))
        elif draw(st.booleans()):  # still open: its hold covers the recording
            holds.append(SimpleNamespace(id=f"hc{c}", kind="case", created_at=draw(instants)))
            case_of_hold[f"hc{c}"] = c
    return flags, holds, case_of_hold, outcomes


@settings(max_examples=300, deadline=None)
@given(situations())
def test_nothing_kept_lacks_a_date_or_a_review(sit) -> None:
    flags, holds, case_of_hold, outcomes = sit
    got = kept.protections(POLICY, flags, holds, case_of_hold, outcomes)
    keep = set(rules.keep_categories(POLICY))
    kept_flags = [f for f in flags if f.category in keep or f.category not in POLICY.categories]
    if holds or kept_flags:
        assert got, "kept without anything to review"
    assert all(p.review_at is not None for p in got.values())
    for h in holds:  # every hold is reviewed: as itself, or as its case
        key = (KeptKind.CASE, case_of_hold[h.id]) if h.id in case_of_hold else (KeptKind.HOLD, h.id)
        assert key in got
    for p in got.values():  # a decided case's review never comes before its retain_until
        if p.retain_until is not None:
            assert p.review_at >= p.retain_until


@settings(max_examples=300, deadline=None)
@given(situations(), instants, st.none() | instants)
def test_never_due_before_a_decided_cases_retain_until(sit, received, released) -> None:
    flags, holds, _, outcomes = sit
    until = kept.case_retain_until(POLICY, list(outcomes.values()))
    floors = [until] + ([rules.released_floor(POLICY, released)] if released else [])
    due = rules.delete_after(POLICY, basis_start=received, received_at=received,
                             categories=[(f.category, f.created_at) for f in flags
                                         if f.category in POLICY.categories and f.category != "evidence"
                                         and f.category != "complaint"],
                             not_before=floors)
    assert due is not None
    if until is not None:
        assert due >= until
    if released is not None:  # a review's release leaves at least the policy's minimum days
        assert due >= released + timedelta(days=POLICY.min_days_after_upload)
    default = rules.delete_after(POLICY, basis_start=received, received_at=received)
    assert due >= default  # floors only ever lengthen the default rule
