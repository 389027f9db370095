"""Reviews of what is kept (API.md "Retention lifecycle"; the police records management code).

A supervisor decides a pending review: *retain* (with a reason) sets the next review at most the policy's
``max_retain_days`` ahead; *release* (with a reason) removes exactly that protection (the flag, this
recording from the hold, or the case's evidence flag), and the default rule applies from then, never sooner
than ``min_days_after_upload`` after the release. Nothing is deleted because a review is overdue: a due review
raises one supervisor alert (counted on each check), closed by the decision.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from service.alerts import repository as alerts_repo
from service.alerts import service as alerts
from service.alerts.models import AlertKind
from service.audit import service as audit
from service.auth.roles import Role, require
from service.auth.schemas import Principal
from service.context import Context
from service.errors import Conflict, Invalid, NotFound
from service.ids import new_id
from service.paging import Page, PageParams, after_time_id, cut
from service.recordings.access import readable
from service.retention import repository as repo
from service.retention import service as retention
from service.retention.models import KeptKind, Review, ReviewDecision, ReviewStatus
from service.retention.schemas import ReviewDecisionIn, ReviewOut
from service.timeutil import iso, utcnow

REVIEWERS = (Role.SUPERVISOR, Role.ADMIN)
READERS = (Role.SUPERVISOR, Role.ADMIN, Role.AUDITOR)


def _out(ctx: Context, r: Review, now: datetime) -> ReviewOut:
    overdue_at = r.review_at + timedelta(days=ctx.policies.retention.reviews.overdue_after_days)
    return ReviewOut.of(r, due=r.status == ReviewStatus.PENDING and r.review_at <= now,
                        overdue=r.status == ReviewStatus.PENDING and overdue_at <= now)


async def list_reviews(s: AsyncSession, actor: Principal, ctx: Context, page: PageParams, *, due: bool | None = None,
                       status: ReviewStatus | None = ReviewStatus.PENDING) -> Page[ReviewOut]:
    """Reviews of footage the caller may see, soonest first (``due``: those whose date has come)."""
    require(actor, READERS)
    now = utcnow()
    rows = await repo.review_page(s, viewer=actor, due_before=now if due else None, status=status,
                                  after=after_time_id(page), limit=page.limit + 1)
    rows, nxt = cut(rows, page, lambda r: [iso(r.review_at), r.id])
    return Page[ReviewOut](items=[_out(ctx, r, now) for r in rows], next_cursor=nxt)


async def get_review(s: AsyncSession, actor: Principal, ctx: Context, review_id: str,
                     *, for_update: bool = False) -> tuple[Review, ReviewOut]:
    require(actor, READERS)
    r = await repo.get_review(s, review_id, for_update=for_update)
    if r is None:
        raise NotFound(f"No review {review_id!r}.", slug="review-not-found")
    await readable(s, actor, r.recording_id)  # restricted footage: 404 to those it is not opened to
    return r, _out(ctx, r, utcnow())


async def decide(s: AsyncSession, actor: Principal, ctx: Context, review_id: str,
                 body: ReviewDecisionIn) -> ReviewOut:
    require(actor, REVIEWERS)
    policy = ctx.policies.retention
    r, _ = await get_review(s, actor, ctx, review_id, for_update=True)
    rec = await readable(s, actor, r.recording_id, for_update=True)
    if r.status != ReviewStatus.PENDING:
        raise Conflict(f"Review {r.id} is {r.status} (by {r.decided_by or 'the system'}).", slug="review-decided")
    now = utcnow()
    details = {"review_id": r.id, "kept_by": {"kind": r.kept_kind, "id": r.kept_id}, "reason": body.reason,
               "was_due": iso(r.review_at)}
    if body.decision == ReviewDecision.RETAIN:
        days = body.retain_days or policy.reviews.max_retain_days
        if days > policy.reviews.max_retain_days:
            raise Invalid(f"retain_days may be at most {policy.reviews.max_retain_days} (the policy's maximum).",
                          slug="retain-days-too-long")
        nxt = Review(id=new_id("rvw"), recording_id=r.recording_id, kept_kind=r.kept_kind, kept_id=r.kept_id,
                     review_at=max(now + timedelta(days=days), r.retain_until or now), retain_until=r.retain_until,
                     set_by_decision=True, status=ReviewStatus.PENDING, created_at=now)
        r.status, r.decided_by, r.decided_at, r.reason = ReviewStatus.RETAINED, actor.sub, now, body.reason
        await repo.add(s, nxt)
        await retention.refresh(s, policy, [r.recording_id])
        details["next_review_at"] = nxt.review_at
        await audit.record(s, actor, "retention.review_retained", "recording", r.recording_id, details)
    else:
        if rec.retain_until is not None and rec.retain_until > now:
            raise Conflict(f"Recording {rec.id} is kept until {iso(rec.retain_until)} under its case's outcome "
                           "(CPIA); it cannot be released before then.", slug="retain-until-not-reached",
                           retain_until=iso(rec.retain_until))
        await _refuse_owned(s, r)
        r.status, r.decided_by, r.decided_at, r.reason = ReviewStatus.RELEASED, actor.sub, now, body.reason
        released = await _release(s, actor, ctx, r, body.reason)
        details["released"] = released
        await audit.record(s, actor, "retention.review_released", "recording", r.recording_id, details)
        details["delete_after"] = rec.delete_after
    await _close_alert(s, actor, r)
    return _out(ctx, r, now)


async def _refuse_owned(s: AsyncSession, r: Review) -> None:
    """An open case's or open SAR's hold ends when that closes (rule 1), never by a review's release."""
    hold_id = r.kept_id if r.kept_kind == KeptKind.HOLD else (
        await repo.case_hold_id(s, r.kept_id) if r.kept_kind == KeptKind.CASE else None)
    owner = await repo.hold_owner(s, hold_id) if hold_id else None
    if owner is not None and await repo.covers(s, hold_id, r.recording_id):
        held = await repo.active_holds_for(s, [r.recording_id])
        if any(h.id == hold_id for _, h in held):
            raise Conflict(f"Recording {r.recording_id} is held by the open {owner}; it is released when that "
                           "closes (or, for a case, when its outcome is recorded). Retain it until then.",
                           slug="hold-owned")


async def _release(s: AsyncSession, actor: Principal, ctx: Context, r: Review, reason: str) -> list[str]:
    """Remove exactly the protection this review is about; what was removed (flag ids, hold ids)."""
    why = f"review {r.id}: {reason}"
    done: list[str] = []
    if r.kept_kind == KeptKind.FLAG:
        flag = await repo.get_flag(s, r.kept_id, for_update=True)
        if flag is not None and flag.removed_at is None:
            flag.removed_at, flag.removed_by, flag.removed_reason = utcnow(), actor.sub, why[:2000]
            done.append(flag.id)
    elif r.kept_kind == KeptKind.HOLD:
        await repo.remove_from_hold(s, r.kept_id, r.recording_id)
        done.append(r.kept_id)
    else:  # a case: its evidence flags on this recording, and this recording from its hold if still open
        for flag in await repo.active_flags(s, [r.recording_id]):
            if flag.source == f"case:{r.kept_id}":
                flag.removed_at, flag.removed_by, flag.removed_reason = utcnow(), actor.sub, why[:2000]
                done.append(flag.id)
        hold_id = await repo.case_hold_id(s, r.kept_id)
        if hold_id is not None and await repo.covers(s, hold_id, r.recording_id):
            await repo.remove_from_hold(s, hold_id, r.recording_id)
            done.append(hold_id)
    await s.flush()
    await retention.refresh(s, ctx.policies.retention, [r.recording_id])
    retention.sync_after_commit(s, ctx, [r.recording_id])
    return done


async def _close_alert(s: AsyncSession, actor: Principal, r: Review) -> None:
    alert = await alerts_repo.find_open(s, AlertKind.REVIEW_DUE, r.id)
    if alert is not None:
        alert.acked_at, alert.acked_by, alert.ack_note = utcnow(), actor.sub, f"review decided: {r.status}"


async def alert_due(s: AsyncSession, ctx: Context, as_of: datetime, *, after: str | None, batch: int) -> list[Review]:
    """One batch of the due-review check: one open alert per due review (counted on each check); nothing
    is deleted, whatever the date."""
    rows = await repo.due_reviews(s, as_of, after=after, limit=batch)
    overdue_days = ctx.policies.retention.reviews.overdue_after_days
    for r in rows:
        overdue = r.review_at + timedelta(days=overdue_days) <= as_of
        await alerts.raise_alert(
            s, AlertKind.REVIEW_DUE, "review", r.id,
            f"Retention review of {r.recording_id} ({r.kept_kind} {r.kept_id}) was due {iso(r.review_at)}"
            f"{' and is overdue' if overdue else ''}; the footage is kept until someone decides.",
            {"recording_id": r.recording_id, "review_at": iso(r.review_at), "overdue": overdue})
    return rows
