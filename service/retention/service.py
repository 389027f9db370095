"""Flags, holds and ``delete_after``: every change that affects retention recomputes it in the same
transaction (rule 1), and storage legal holds follow once it commits (defence in depth, ``after_commit``).

Each function takes the caller's session and principal, checks the principal's roles itself, and writes
its audit event; the edge (request, task, CLI) owns the transaction."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import service as audit
from service.auth.roles import SUPERVISORS, Role, require
from service.auth.schemas import Principal
from service.context import Context
from service.db import after_commit
from service.errors import Conflict, Invalid, NotFound
from service.ids import new_id
from service.jobs import JobName
from service.paging import Page, PageParams, after_id, after_time_id, cut
from service.policies import Policies, RetentionPolicy
from service.recordings.access import check_clip, readable
from service.recordings.models import Recording, RecordingStatus
from service.recordings.repository import readable_by
from service.retention import kept, objectlock, rules
from service.retention import repository as repo
from service.retention.models import Flag, Hold, HoldKind, HoldRecording, PolicyVersion
from service.retention.rules import keep_categories
from service.retention.schemas import DueItem, FlagIn, Forecast, HoldOut, ReviewCounts, SweepOut
from service.timeutil import iso, utcnow

log = structlog.get_logger(__name__)

# Who may do what with retention (the endpoints' guards and the console's pages read these too).
FLAGGERS = (Role.OFFICER, Role.SUPERVISOR, Role.DISCLOSURE, Role.ADMIN)
UNFLAGGERS = SUPERVISORS
HOLDERS = (Role.SUPERVISOR, Role.DISCLOSURE, Role.SAR_HANDLER, Role.ADMIN)
OVERSEERS = (Role.SUPERVISOR, Role.ADMIN, Role.AUDITOR)  # the forecast and the sweeps
UPCOMING = (Role.OFFICER, Role.SUPERVISOR, Role.ADMIN)  # what is about to be deleted, to flag in time
SEE_EVERYONES_UPCOMING = SUPERVISORS  # the others see their own footage's, whatever else they may see

# Also reached from here by the services that place holds and flags (they register it after commit too).
sync_legal_holds = objectlock.sync_legal_holds
__all__ = ["keep_categories", "sync_legal_holds"]


def dominant_category(policy: RetentionPolicy, flags: list[Flag]) -> str:
    """The category shown for a recording: a kept one first, else the one that lasts longest."""
    cats = [f.category for f in flags if f.category in policy.categories]
    if not cats:
        return policy.default_category
    kept = [c for c in cats if policy.categories[c].retain_days is None]
    if kept:
        return "evidence" if "evidence" in kept else kept[0]
    return max(cats, key=lambda c: policy.categories[c].retain_days or 0)


async def refresh(s: AsyncSession, policy: RetentionPolicy, recording_ids: list[str], *,
                  policy_change: bool = False) -> list[Recording]:
    """Recompute ``delete_after``, the category, and what keeps them until when (reviews, ``retain_until``,
    ``review_at``: retention/kept.py) of these recordings from their flags, holds and case outcomes."""
    if not recording_ids:
        return []
    recs = await repo.recordings(s, recording_ids)
    flags: dict[str, list[Flag]] = defaultdict(list)
    for f in await repo.active_flags(s, recording_ids):
        flags[f.recording_id].append(f)
    holds: dict[str, list[Hold]] = defaultdict(list)
    for rid, h in await repo.active_holds_for(s, recording_ids):
        holds[rid].append(h)
    floors = await kept.sync(s, policy, recs, flags, holds)
    for rec in recs:
        if rec.status == RecordingStatus.DELETED:
            continue
        fl = flags.get(rec.id, [])
        new = rules.delete_after(policy, basis_start=rec.basis_start, received_at=rec.received_at,
                                 categories=[(f.category, f.created_at) for f in fl], held=rec.id in holds,
                                 not_before=[floors.get(rec.id)])
        if policy_change and fl and (rec.delete_after is None or (new is not None and new < rec.delete_after)):
            new = rec.delete_after  # a policy change never shortens the protection of flagged footage
        rec.delete_after = new
        rec.retention_category = dominant_category(policy, fl)
    await s.flush()
    return recs


def sync_after_commit(s: AsyncSession, ctx: Context, recording_ids: list[str]) -> None:
    """Storage legal holds follow the database once this change has committed (never after a rollback)."""
    ids = list(recording_ids)
    if ids:
        after_commit(s, lambda: objectlock.sync_legal_holds(ctx, ids))


async def on_new_recording(s: AsyncSession, policies: Policies, actor: Principal, rec: Recording) -> None:
    """A recording docked late may fall inside a query hold placed before it arrived."""
    await repo.lock_query_holds(s, exclusive=False)
    holds = await repo.query_holds_matching(s, rec)
    for h in holds:
        s.add(HoldRecording(hold_id=h.id, recording_id=rec.id, added_at=utcnow()))
        await audit.record(s, actor, "hold.covers_new_recording", "hold", h.id, {"recording_id": rec.id})
    if holds:
        await s.flush()
        await refresh(s, policies.retention, [rec.id])


async def add_flag(s: AsyncSession, actor: Principal, ctx: Context, recording_id: str, body: FlagIn, *,
                   source: str | None = None) -> Flag:
    """Flag footage into a category (``source``: what added it, e.g. ``case:ID``)."""
    require(actor, FLAGGERS)
    policy = ctx.policies.retention
    rec = await readable(s, actor, recording_id, for_update=True)
    cat = policy.categories.get(body.category)
    if cat is None or body.category == policy.default_category:
        choices = ", ".join(c for c in policy.categories if c != policy.default_category)
        raise Invalid(f"Unknown flag category {body.category!r}; use one of: {choices}.", slug="invalid-category")
    if cat.requires_consent and not body.consent_reference:
        raise Invalid(f"Category {body.category!r} needs a consent_reference.", slug="consent-required")
    check_clip(rec, body.clip_end_s)
    flag = Flag(id=new_id("flg"), recording_id=rec.id, category=body.category, reference=body.reference,
                reason=body.reason, clip_start_s=body.clip_start_s, clip_end_s=body.clip_end_s, source=source,
                created_by=actor.sub, created_at=utcnow())
    await repo.add(s, flag)
    await refresh(s, policy, [rec.id])
    await audit.record(s, actor, "recording.flagged", "recording", rec.id,
                       {"flag_id": flag.id, "category": flag.category, "reference": flag.reference,
                        "reason": flag.reason, "clip": [flag.clip_start_s, flag.clip_end_s],
                        "delete_after": rec.delete_after, "source": source})
    sync_after_commit(s, ctx, [rec.id])
    return flag


def refuse_before_retain_until(rec: Recording, source: str | None) -> None:
    """A decided case's exhibit keeps its evidence flag until the outcome's retain_until (CPIA)."""
    if source and source.startswith("case:") and rec.retain_until is not None and rec.retain_until > utcnow():
        raise Conflict(f"Recording {rec.id} is kept until {iso(rec.retain_until)} under its case's outcome "
                       "(CPIA); its evidence flag cannot be removed before then.", slug="retain-until-not-reached",
                       retain_until=iso(rec.retain_until))


async def remove_flag(s: AsyncSession, actor: Principal, ctx: Context, flag_id: str, reason: str) -> Flag:
    require(actor, UNFLAGGERS)
    flag = await repo.get_flag(s, flag_id, for_update=True)
    if flag is None:
        raise NotFound(f"No flag {flag_id!r}.", slug="flag-not-found")
    rec = await readable(s, actor, flag.recording_id, for_update=True)
    if flag.removed_at is not None:
        raise Conflict(f"Flag {flag_id} was already removed by {flag.removed_by}.", slug="flag-removed")
    refuse_before_retain_until(rec, flag.source)
    flag.removed_at, flag.removed_by, flag.removed_reason = utcnow(), actor.sub, reason
    recs = await refresh(s, ctx.policies.retention, [flag.recording_id])
    await audit.record(s, actor, "recording.unflagged", "recording", flag.recording_id,
                       {"flag_id": flag.id, "category": flag.category, "reason": reason,
                        "delete_after": recs[0].delete_after if recs else None})
    sync_after_commit(s, ctx, [flag.recording_id])
    return flag


async def place_hold(s: AsyncSession, actor: Principal, ctx: Context, *, kind: HoldKind, reference: str,
                     reason: str, recording_ids: list[str] | None = None,
                     query: dict[str, Any] | None = None) -> tuple[Hold, list[str]]:
    """Hold footage by ids (each one the actor may see) or by a query (``officer_id``, ``device_id``,
    ``from``, ``to``) that also covers footage docked later. Cases and SARs place theirs here too."""
    require(actor, HOLDERS)
    if query is not None:
        await repo.lock_query_holds(s, exclusive=True)  # before any audit.record (repository.py says why)
    hold = Hold(id=new_id("hld"), kind=kind, reference=reference, reason=reason, created_by=actor.sub,
                created_at=utcnow())
    if query is not None:
        hold.query = {k: v for k, v in query.items() if v is not None}
        hold.q_officer_id, hold.q_device_id = query.get("officer_id"), query.get("device_id")
        hold.q_from, hold.q_to = query["from"], query["to"]
    await repo.add(s, hold)
    if recording_ids is not None:
        ids = []
        for rid in dict.fromkeys(recording_ids):
            ids.append((await readable(s, actor, rid, for_update=True)).id)
    else:
        ids = await repo.matching_recording_ids(s, hold)
    now = utcnow()
    await repo.add(s, *[HoldRecording(hold_id=hold.id, recording_id=rid, added_at=now) for rid in ids])
    await refresh(s, ctx.policies.retention, ids)
    await audit.record(s, actor, "hold.placed", "hold", hold.id,
                       {"kind": kind, "reference": reference, "reason": reason, "query": hold.query,
                        "recording_ids": ids})
    sync_after_commit(s, ctx, ids)
    return hold, ids


async def add_to_hold(s: AsyncSession, ctx: Context, hold_id: str, recording_id: str) -> bool:
    """Put one more recording under an existing hold (an exhibit, a SAR item picked from outside the
    query) and recompute its retention; False when the hold already covered it. The caller's service has
    authorised the actor and audits the item it adds."""
    if await repo.covers(s, hold_id, recording_id):
        return False
    await repo.add(s, HoldRecording(hold_id=hold_id, recording_id=recording_id, added_at=utcnow()))
    await refresh(s, ctx.policies.retention, [recording_id])
    sync_after_commit(s, ctx, [recording_id])
    return True


RELEASE_REASON_MAX = Hold.released_reason.type.length


async def release_hold(s: AsyncSession, actor: Principal, ctx: Context, hold_id: str, reason: str, *,
                       by_owner: bool = False) -> tuple[Hold, list[str]]:
    """Release a hold. A case's or SAR's hold ends only when its owner closes (``by_owner``), never here."""
    require(actor, HOLDERS)
    if not by_owner:
        owner = await repo.hold_owner(s, hold_id)
        if owner is not None:
            raise Conflict(f"Hold {hold_id} belongs to the open {owner}; it is released when that closes.",
                           slug="hold-owned")
    hold = await repo.get_hold(s, hold_id, for_update=True)
    if hold is None:
        raise NotFound(f"No hold {hold_id!r}.", slug="hold-not-found")
    if hold.released_at is not None:
        raise Conflict(f"Hold {hold_id} was already released by {hold.released_by}.", slug="hold-released")
    # A case's close reason (up to 2000 characters) arrives here prefixed with the case's URN; the row keeps
    # what fits, and the whole reason stays on the case and in the audit event below.
    stored = reason if len(reason) <= RELEASE_REASON_MAX else reason[:RELEASE_REASON_MAX - 1] + "…"
    hold.released_at, hold.released_by, hold.released_reason = utcnow(), actor.sub, stored
    ids = await repo.hold_recording_ids(s, hold_id)
    await refresh(s, ctx.policies.retention, ids)
    await audit.record(s, actor, "hold.released", "hold", hold.id, {"reason": reason, "recordings": len(ids)})
    sync_after_commit(s, ctx, ids)
    return hold, ids


async def hold_out(s: AsyncSession, viewer: Principal, hold: Hold) -> HoldOut:
    """A hold as ``viewer`` may see it: restricted footage it covers is protected but not listed."""
    return HoldOut.of(hold, await repo.hold_recording_ids(s, hold.id, visible_to=viewer))


async def get_hold(s: AsyncSession, actor: Principal, hold_id: str) -> HoldOut:
    require(actor, HOLDERS)
    hold = await repo.get_hold(s, hold_id)
    if hold is None:
        raise NotFound(f"No hold {hold_id!r}.", slug="hold-not-found")
    return await hold_out(s, actor, hold)


async def list_holds(s: AsyncSession, actor: Principal, page: PageParams, *,
                     active: bool | None = None) -> Page[HoldOut]:
    require(actor, HOLDERS)
    rows, nxt = cut(await repo.list_holds(s, active=active, after=after_id(page), limit=page.limit + 1),
                    page, lambda h: [h.id])
    covered = await repo.holds_recording_ids(s, [h.id for h in rows], visible_to=actor)
    return Page[HoldOut](items=[HoldOut.of(h, covered[h.id]) for h in rows], next_cursor=nxt)


async def _due(s: AsyncSession, ctx: Context, viewer: Principal, as_of: datetime, page: PageParams) -> Forecast:
    """Counts, bytes and items are of what ``viewer`` may see."""
    keep = keep_categories(ctx.policies.retention)
    extra = [readable_by(viewer)]
    count, size = await repo.due_summary(s, as_of, keep, extra)
    rows = await repo.due_page(s, as_of, keep, after=after_time_id(page), limit=page.limit + 1, extra=extra)
    rows, nxt = cut(rows, page, lambda r: [iso(r.delete_after), r.id])
    items = [DueItem(id=r.id, delete_after=r.delete_after, officer_id=r.officer_id, device_id=r.device_id,
                     filename=r.filename, trusted_start=r.trusted_start, size_bytes=r.size_bytes) for r in rows]
    return Forecast(as_of=as_of, count=count, bytes=size, items=items, next_cursor=nxt)


async def forecast(s: AsyncSession, actor: Principal, ctx: Context, as_of: datetime | None,
                   page: PageParams) -> Forecast:
    """What a sweep as of ``as_of`` would delete (the same rule the sweep applies), of what the caller
    may see: restricted footage counts only for the people it is opened to (and auditors)."""
    require(actor, OVERSEERS)
    out = await _due(s, ctx, actor, as_of or utcnow(), page)
    now = utcnow()
    counts = await repo.review_counts(s, now, now - timedelta(days=ctx.policies.retention.reviews.overdue_after_days),
                                      viewer=actor)
    return out.model_copy(update={"reviews": ReviewCounts(**counts)})


async def upcoming(s: AsyncSession, actor: Principal, ctx: Context, days: int, page: PageParams) -> Forecast:
    """The caller's own footage (a supervisor's: everyone's) deleted within ``days``, to flag in time."""
    require(actor, UPCOMING)
    if not 1 <= days <= 366:
        raise Invalid("days must be between 1 and 366", slug="invalid-days")
    # One's own footage, even for roles that may see more; supervisors and admins see everyone's.
    viewer = (actor if actor.has(*SEE_EVERYONES_UPCOMING)
              else Principal(sub=actor.sub, roles=frozenset({Role.OFFICER.value})))
    return await _due(s, ctx, viewer, utcnow() + timedelta(days=days), page)


async def list_sweeps(s: AsyncSession, actor: Principal) -> list[SweepOut]:
    require(actor, OVERSEERS)
    return [SweepOut.of(r) for r in await repo.list_sweeps(s)]


def policy_digest(policy: RetentionPolicy) -> tuple[str, dict]:
    content = policy.model_dump(mode="json")
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest(), content


async def check_policy(s: AsyncSession, actor: Principal, ctx: Context) -> bool:
    """Record the running policy; a new one recomputes every active recording (a job, audited, enqueued
    once the policy's row has committed)."""
    sha, content = policy_digest(ctx.policies.retention)
    await repo.lock_policy_versions(s)
    if await repo.get_policy_version(s, sha) is not None:
        return False
    await repo.add(s, PolicyVersion(sha256=sha, loaded_at=utcnow(), content=content))
    await audit.record(s, actor, "retention.policy_loaded", "policy", sha, {"policy": content})
    if ctx.jobs is not None:
        jobs = ctx.jobs
        after_commit(s, lambda: jobs.enqueue(JobName.RECOMPUTE_RETENTION, policy_sha=sha))
    return True


async def recompute_batch(s: AsyncSession, ctx: Context, after: str | None, batch: int) -> list[str]:
    """One batch of a policy recompute: the next ``batch`` active recordings after id ``after``."""
    ids = await repo.active_recording_ids(s, after, batch)
    if ids:
        await refresh(s, ctx.policies.retention, ids, policy_change=True)
    return ids


async def recomputed(s: AsyncSession, actor: Principal, policy_sha: str, done: int) -> None:
    pv = await repo.get_policy_version(s, policy_sha)
    if pv is not None:
        pv.recomputed_at = utcnow()
    await audit.record(s, actor, "retention.recomputed", "policy", policy_sha, {"recordings": done})
