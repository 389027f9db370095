"""Nothing is kept without a date or a review (DESIGN.md rule 7).

Every protection that keeps a recording beyond the default rule (a flag into a kept category, a hold, a
CPS case) has one pending review with its date; a decided case's exhibits also carry the outcome's
``retain_until`` (CPIA), before which nothing deletes them. :func:`sync` recomputes all of it for some
recordings; ``retention.service.refresh`` calls it whenever flags, holds or outcomes change, in the same
transaction, so the recording's ``retain_until``/``review_at`` are never stale.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from service.ids import new_id
from service.policies import RetentionPolicy
from service.recordings.models import Recording, RecordingStatus
from service.retention import repository as repo
from service.retention import rules
from service.retention.models import Flag, Hold, KeptKind, Review, ReviewStatus
from service.timeutil import utcnow


@dataclass
class Protection:
    kind: KeptKind
    id: str
    review_at: datetime
    retain_until: datetime | None = None


def protections(policy: RetentionPolicy, flags: list[Flag], holds: list[Hold], case_of_hold: dict[str, str],
                outcomes: dict[str, object]) -> dict[tuple[str, str], Protection]:
    """What keeps one recording, keyed (kind, id). Pure: the property tests call it directly.

    ``outcomes``: {case id: current outcome} of the cases it is an exhibit of (an object with
    ``outcome, decided_at, custody_release_at, appeal_until``)."""
    out: dict[tuple[str, str], Protection] = {}
    for h in holds:
        cid = case_of_hold.get(h.id)
        if cid is not None:
            out[(KeptKind.CASE, cid)] = Protection(KeptKind.CASE, cid,
                                                   h.created_at + timedelta(days=policy.hold_review_days("case")))
        else:
            out[(KeptKind.HOLD, h.id)] = Protection(KeptKind.HOLD, h.id,
                                                    h.created_at + timedelta(days=policy.hold_review_days(h.kind)))
    keep = set(rules.keep_categories(policy))
    for f in flags:
        if f.category not in keep and f.category in policy.categories:
            continue  # a category with a period: delete_after is its date
        cid = f.source.removeprefix("case:") if f.source and f.source.startswith("case:") else None
        if cid is not None and (KeptKind.CASE, cid) in out:
            continue  # the open case's hold reviews it
        if cid is not None and cid in outcomes:
            continue  # the outcome's rule, below
        due = f.created_at + timedelta(days=policy.flag_review_days(f.category))
        if cid is not None:
            out[(KeptKind.CASE, cid)] = Protection(KeptKind.CASE, cid, due)  # closed without an outcome
        else:
            out[(KeptKind.FLAG, f.id)] = Protection(KeptKind.FLAG, f.id, due)
    for cid, o in outcomes.items():
        if not any(f.source == f"case:{cid}" for f in flags) and (KeptKind.CASE, cid) not in out:
            continue  # released from this case: only its retain_until (below, in sync) still applies
        until, review_at = rules.outcome_dates(policy, o.outcome, decided_at=o.decided_at,
                                               custody_release_at=o.custody_release_at,
                                               appeal_until=o.appeal_until)
        out[(KeptKind.CASE, cid)] = Protection(KeptKind.CASE, cid, review_at, until)
    return out


def case_retain_until(policy: RetentionPolicy, outcomes: list[object]) -> datetime | None:
    """The latest retain_until of the decided cases a recording is an exhibit of, flag or no flag."""
    dates = [rules.outcome_dates(policy, o.outcome, decided_at=o.decided_at, custody_release_at=o.custody_release_at,
                                 appeal_until=o.appeal_until)[0] for o in outcomes]
    dates = [d for d in dates if d is not None]
    return max(dates) if dates else None


async def sync(s: AsyncSession, policy: RetentionPolicy, recs: list[Recording], flags: dict[str, list[Flag]],
               holds: dict[str, list[Hold]]) -> dict[str, datetime]:
    """Bring reviews and ``retain_until``/``review_at`` of ``recs`` up to date with their protections;
    the floors ``delete_after`` must respect ({recording id: date}) come back to the caller."""
    ids = [r.id for r in recs if r.status != RecordingStatus.DELETED]
    if not ids:
        return {}
    case_of_hold = await repo.case_holds(s, sorted({h.id for hs in holds.values() for h in hs}))
    exhibits: dict[str, list[str]] = defaultdict(list)
    for rid, cid in await repo.exhibit_cases(s, ids):
        exhibits[rid].append(cid)
    outcomes = await repo.current_outcomes(s, sorted({c for cs in exhibits.values() for c in cs}))
    pending: dict[str, dict[tuple[str, str], Review]] = defaultdict(dict)
    for r in await repo.reviews_of(s, ids, status=ReviewStatus.PENDING):
        pending[r.recording_id][(r.kept_kind, r.kept_id)] = r
    releases = await repo.last_releases(s, ids)
    now = utcnow()
    floors: dict[str, datetime] = {}
    for rec in recs:
        if rec.id not in ids:
            continue
        mine = {cid: outcomes[cid] for cid in exhibits.get(rec.id, []) if cid in outcomes}
        want = protections(policy, flags.get(rec.id, []), holds.get(rec.id, []), case_of_hold, mine)
        have = pending.get(rec.id, {})
        for key, row in have.items():
            if key not in want:
                row.status, row.decided_at = ReviewStatus.ENDED, now
        for key, p in want.items():
            row = have.get(key)
            if row is None:
                s.add(Review(id=new_id("rvw"), recording_id=rec.id, kept_kind=p.kind, kept_id=p.id,
                             review_at=p.review_at, retain_until=p.retain_until, set_by_decision=False,
                             status=ReviewStatus.PENDING, created_at=now))
            elif row.set_by_decision:  # a supervisor chose the next date; an outcome may only push it later
                row.retain_until = p.retain_until
                if p.retain_until is not None and row.review_at < p.retain_until:
                    row.review_at = p.retain_until
            else:
                row.review_at, row.retain_until = p.review_at, p.retain_until
        until = case_retain_until(policy, list(mine.values()))
        rec.retain_until = until
        review_dates = [(have[k].review_at if k in have else p.review_at) for k, p in want.items()]
        rec.review_at = min(review_dates) if review_dates else None
        floor = [until] if until is not None else []
        if rec.id in releases:
            floor.append(rules.released_floor(policy, releases[rec.id]))
        if floor:
            floors[rec.id] = max(floor)
    await s.flush()
    return floors
