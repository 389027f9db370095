"""Flags, holds and ``delete_after``: every change that affects retention recomputes it in the same
transaction (rule 1), and storage legal holds follow once it commits (defence in depth)."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import service as audit
from service.auth.schemas import Principal
from service.context import Context
from service.db import transaction
from service.devices import service as devices
from service.errors import Conflict, Invalid, NotFound
from service.ids import new_id
from service.jobs import JobName
from service.recordings.access import check_clip, readable
from service.recordings.models import Recording
from service.retention import objectlock, rules
from service.retention import repository as repo
from service.retention.models import Flag, Hold, HoldRecording, PolicyVersion
from service.retention.policy import Policies, RetentionPolicy
from service.retention.schemas import FlagIn, HoldIn
from service.timeutil import utcnow

log = structlog.get_logger(__name__)


def keep_categories(policy: RetentionPolicy) -> list[str]:
    return [name for name, c in policy.categories.items() if c.retain_days is None]


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
    """Recompute ``delete_after`` and the category of these recordings from their flags and holds."""
    if not recording_ids:
        return []
    recs = list((await s.execute(select(Recording).where(Recording.id.in_(recording_ids))
                                 .execution_options(populate_existing=True))).scalars())
    flags: dict[str, list[Flag]] = defaultdict(list)
    for f in await repo.active_flags(s, recording_ids):
        flags[f.recording_id].append(f)
    held = {rid for rid, _ in await repo.active_holds_for(s, recording_ids)}
    for rec in recs:
        if rec.status == "deleted":
            continue
        fl = flags.get(rec.id, [])
        new = rules.delete_after(policy, basis_start=rec.basis_start, received_at=rec.received_at,
                                 categories=[(f.category, f.created_at) for f in fl], held=rec.id in held)
        if policy_change and fl and (rec.delete_after is None or (new is not None and new < rec.delete_after)):
            new = rec.delete_after  # a policy change never shortens the protection of flagged footage
        rec.delete_after = new
        rec.retention_category = dominant_category(policy, fl)
    await s.flush()
    return recs


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


async def sync_legal_holds(ctx: Context, recording_ids: list[str]) -> None:
    """Mirror protection onto S3 Object Lock legal holds and COMPLIANCE retention, where the bucket has
    Object Lock."""
    if not recording_ids:
        return
    keep = keep_categories(ctx.policies.retention)
    async with ctx.sessions() as s:
        rows = (await s.execute(select(Recording.id, Recording.storage_key)
                                .where(Recording.id.in_(recording_ids), Recording.status == "active"))).all()
        protected = await repo.protected_ids(s, [r.id for r in rows], keep)
    until = objectlock.horizon(ctx.settings)
    for rid, key in rows:
        try:
            await ctx.store.set_legal_hold(key, rid in protected)
            if rid in protected:  # released footage keeps its retention until it runs out (objectlock.py)
                await ctx.store.extend_retention(key, until)
        except Exception as e:  # the database still protects it; say so loudly
            log.error("legal_hold_sync_failed", recording_id=rid, error=str(e))
            async with transaction(ctx.sessions) as s:
                await devices.raise_alert(s, "legal_hold_failed", "recording", rid,
                                          f"Could not set the storage legal hold on {rid}: {e}", severity="critical")


async def add_flag(ctx: Context, actor: Principal, recording_id: str, body: FlagIn, *,
                   source: str | None = None) -> Flag:
    async with transaction(ctx.sessions) as s:
        flag = await flag_in_session(s, ctx.policies, actor, recording_id, body, source=source)
    await sync_legal_holds(ctx, [recording_id])
    return flag


async def flag_in_session(s: AsyncSession, policies: Policies, actor: Principal, recording_id: str, body: FlagIn,
                          *, source: str | None = None) -> Flag:
    policy = policies.retention
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
    s.add(flag)
    await s.flush()
    await refresh(s, policy, [rec.id])
    await audit.record(s, actor, "recording.flagged", "recording", rec.id,
                       {"flag_id": flag.id, "category": flag.category, "reference": flag.reference,
                        "reason": flag.reason, "clip": [flag.clip_start_s, flag.clip_end_s],
                        "delete_after": rec.delete_after, "source": source})
    return flag


async def remove_flag(ctx: Context, actor: Principal, flag_id: str, reason: str) -> Flag:
    async with transaction(ctx.sessions) as s:
        flag = await repo.get_flag(s, flag_id, for_update=True)
        if flag is None:
            raise NotFound(f"No flag {flag_id!r}.", slug="flag-not-found")
        await readable(s, actor, flag.recording_id, for_update=True)
        if flag.removed_at is not None:
            raise Conflict(f"Flag {flag_id} was already removed by {flag.removed_by}.", slug="flag-removed")
        flag.removed_at, flag.removed_by, flag.removed_reason = utcnow(), actor.sub, reason
        recs = await refresh(s, ctx.policies.retention, [flag.recording_id])
        await audit.record(s, actor, "recording.unflagged", "recording", flag.recording_id,
                           {"flag_id": flag.id, "category": flag.category, "reason": reason,
                            "delete_after": recs[0].delete_after if recs else None})
    await sync_legal_holds(ctx, [flag.recording_id])
    return flag


async def create_hold(s: AsyncSession, policies: Policies, actor: Principal, *, kind: str, reference: str,
                      reason: str, recording_ids: list[str] | None = None, query: dict | None = None) -> tuple[Hold, list[str]]:
    """Place a hold inside the caller's transaction (cases and SARs use it too), before any audit."""
    if query is not None:
        await repo.lock_query_holds(s, exclusive=True)
    hold = Hold(id=new_id("hld"), kind=kind, reference=reference, reason=reason, created_by=actor.sub,
                created_at=utcnow())
    if query is not None:
        hold.query = {k: v for k, v in query.items() if v is not None}
        hold.q_officer_id, hold.q_device_id = query.get("officer_id"), query.get("device_id")
        hold.q_from, hold.q_to = query["from"], query["to"]
    s.add(hold)
    await s.flush()
    if recording_ids is not None:
        ids = []
        for rid in dict.fromkeys(recording_ids):
            ids.append((await readable(s, actor, rid, for_update=True)).id)
    else:
        ids = await repo.matching_recording_ids(s, hold)
    now = utcnow()
    s.add_all([HoldRecording(hold_id=hold.id, recording_id=rid, added_at=now) for rid in ids])
    await s.flush()
    await refresh(s, policies.retention, ids)
    await audit.record(s, actor, "hold.placed", "hold", hold.id,
                       {"kind": kind, "reference": reference, "reason": reason, "query": hold.query,
                        "recording_ids": ids})
    return hold, ids


async def add_to_hold(s: AsyncSession, policies: Policies, hold_id: str, recording_id: str) -> bool:
    """Put one more recording under an existing hold (an exhibit, a SAR item picked from outside the
    query) and recompute its retention; False when the hold already covered it."""
    if await s.get(HoldRecording, (hold_id, recording_id)) is not None:
        return False
    s.add(HoldRecording(hold_id=hold_id, recording_id=recording_id, added_at=utcnow()))
    await s.flush()
    await refresh(s, policies.retention, [recording_id])
    return True


async def place_hold(ctx: Context, actor: Principal, body: HoldIn) -> tuple[Hold, list[str]]:
    query = None
    if body.query is not None:
        query = {"officer_id": body.query.officer_id, "device_id": body.query.device_id,
                 "from": body.query.from_, "to": body.query.to}
    async with transaction(ctx.sessions) as s:
        hold, ids = await create_hold(s, ctx.policies, actor, kind=body.kind, reference=body.reference,
                                      reason=body.reason, recording_ids=body.recording_ids, query=query)
    await sync_legal_holds(ctx, ids)
    return hold, ids


RELEASE_REASON_MAX = Hold.released_reason.type.length


async def release_hold_in_session(s: AsyncSession, policies: Policies, actor: Principal, hold_id: str,
                                  reason: str) -> tuple[Hold, list[str]]:
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
    await refresh(s, policies.retention, ids)
    await audit.record(s, actor, "hold.released", "hold", hold.id, {"reason": reason, "recordings": len(ids)})
    return hold, ids


async def release_hold(ctx: Context, actor: Principal, hold_id: str, reason: str) -> tuple[Hold, list[str]]:
    async with transaction(ctx.sessions) as s:
        owner = await repo.hold_owner(s, hold_id)
        if owner is not None:
            raise Conflict(f"Hold {hold_id} belongs to the open {owner}; it is released when that closes.",
                           slug="hold-owned")
        hold, ids = await release_hold_in_session(s, ctx.policies, actor, hold_id, reason)
    await sync_legal_holds(ctx, ids)
    return hold, ids


def policy_digest(policy: RetentionPolicy) -> tuple[str, dict]:
    content = policy.model_dump(mode="json")
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest(), content


async def check_policy(ctx: Context, actor: Principal) -> bool:
    """Record the running policy; a new one recomputes every active recording (a job, audited)."""
    sha, content = policy_digest(ctx.policies.retention)
    async with transaction(ctx.sessions) as s:
        if await repo.get_policy_version(s, sha) is not None:
            return False
        s.add(PolicyVersion(sha256=sha, loaded_at=utcnow(), content=content))
        await audit.record(s, actor, "retention.policy_loaded", "policy", sha, {"policy": content})
    if ctx.jobs is not None:
        await ctx.jobs.enqueue(JobName.RECOMPUTE_RETENTION, policy_sha=sha)
    return True


async def recompute_all(ctx: Context, actor: Principal, policy_sha: str, batch: int = 1000) -> int:
    after, done = None, 0
    while True:
        async with transaction(ctx.sessions) as s:
            ids = await repo.active_recording_ids(s, after, batch)
            if not ids:
                break
            await refresh(s, ctx.policies.retention, ids, policy_change=True)
        after, done = ids[-1], done + len(ids)
        log.info("retention_recompute_progress", policy=policy_sha[:12], recordings=done)
    async with transaction(ctx.sessions) as s:
        pv = await repo.get_policy_version(s, policy_sha)
        if pv is not None:
            pv.recomputed_at = utcnow()
        await audit.record(s, actor, "retention.recomputed", "policy", policy_sha, {"recordings": done})
    return done
