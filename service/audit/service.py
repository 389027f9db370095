"""Append-only, hash-chained audit (DESIGN.md rule 5).

Every state change calls :func:`record` inside its own transaction, so the event and the change
commit or roll back together. The actor is always the authenticated ``sub``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import checkpoints
from service.audit import repository as repo
from service.audit import verify as verification
from service.audit.chain import GENESIS, event_hash
from service.audit.checkpoints import Claim
from service.audit.models import AuditCheckpoint, AuditEvent, AuditHead, AuditVerification, VerificationMode
from service.audit.schemas import AuditEventOut, AuditPage, CheckpointOut, CheckpointPage, VerifyResult
from service.auth.roles import Role, require
from service.auth.schemas import Principal
from service.db import json_dumps
from service.errors import Invalid, NotFound
from service.ids import new_id
from service.paging import PageParams, after_seq, cut
from service.signing.keys import Signer
from service.signing.tsa import stamper_for
from service.storage import ObjectStore
from service.timeutil import utcnow

if TYPE_CHECKING:
    from service.context import Context

# Who may read the audit and check its chain.
READERS = (Role.AUDITOR, Role.ADMIN)


def _json_safe(details: dict[str, Any]) -> dict[str, Any]:
    """Exactly what the JSON column will hold, so the hash covers what is stored."""
    return json.loads(json_dumps(details))


async def record(session: AsyncSession, actor: Principal, action: str, object_type: str, object_id: str,
                 details: dict[str, Any] | None = None) -> AuditEvent:
    await repo.lock_chain(session)
    head = await repo.get_head(session)
    seq = head.seq + 1 if head else 1
    prev = head.hash if head else GENESIS
    fields = dict(seq=seq, at=utcnow(), actor=actor.sub, roles=sorted(actor.roles), action=action,
                  object_type=object_type, object_id=object_id, details=_json_safe(details or {}),
                  ip=actor.ip, prev_hash=prev)
    event = AuditEvent(**fields, hash=event_hash(**fields))
    session.add(event)
    if head is None:
        session.add(AuditHead(id=1, seq=seq, hash=event.hash))
    else:
        head.seq, head.hash = seq, event.hash
    await session.flush()
    return event


async def record_many(session: AsyncSession, actor: Principal,
                      events: list[tuple[str, str, str, dict[str, Any]]]) -> int:
    """Append many events under one chain lock (a sweep tombstones a thousand recordings at a time)."""
    if not events:
        return 0
    await repo.lock_chain(session)
    head = await repo.get_head(session)
    seq = head.seq if head else 0
    prev = head.hash if head else GENESIS
    now = utcnow()
    rows = []
    for action, object_type, object_id, details in events:
        seq += 1
        fields = dict(seq=seq, at=now, actor=actor.sub, roles=sorted(actor.roles), action=action,
                      object_type=object_type, object_id=object_id, details=_json_safe(details), ip=actor.ip,
                      prev_hash=prev)
        prev = event_hash(**fields)
        rows.append({**fields, "hash": prev})
    await repo.insert_many(session, rows)
    if head is None:
        session.add(AuditHead(id=1, seq=seq, hash=prev))
    else:
        head.seq, head.hash = seq, prev
    await session.flush()
    return len(rows)


async def verify(session: AsyncSession) -> VerifyResult:
    expected_seq, prev, count = 1, GENESIS, 0
    async for ev in repo.stream_all(session):
        count += 1
        if (broken := verification.chain_break(ev, expected_seq, prev, count)) is not None:
            return broken
        prev, expected_seq = ev.hash, ev.seq + 1
    head = await repo.get_head(session)
    last = expected_seq - 1
    if head is not None and (head.seq != last or head.hash != prev):
        return VerifyResult(ok=False, events=count, first_bad_seq=last + 1,
                            reason=f"the chain ends at {last} but its head records {head.seq}")
    if head is None and count:
        return VerifyResult(ok=False, events=count, first_bad_seq=1, reason="the chain head is missing")
    return VerifyResult(ok=True, events=count, first_bad_seq=None)


async def search(s: AsyncSession, reader: Principal, page: PageParams, *, object_id: str | None = None,
                 actor: str | None = None, action: str | None = None, start: datetime | None = None,
                 end: datetime | None = None) -> AuditPage:
    require(reader, READERS)
    rows = await repo.list_events(s, object_id=object_id, actor=actor, action=action, start=start, end=end,
                                  after_seq=after_seq(page), limit=page.limit + 1)
    rows, nxt = cut(rows, page, lambda e: [e.seq])
    return AuditPage(items=[AuditEventOut.model_validate(r, from_attributes=True) for r in rows], next_cursor=nxt)


async def verify_as(s: AsyncSession, reader: Principal, signer: Signer, store: ObjectStore, *,
                    mode: VerificationMode = VerificationMode.FULL, witness: dict[str, Any] | None = None,
                    tsa_ca: str | None = None) -> VerifyResult:
    """The chain against every signed checkpoint (and *witness*, a checkpoint someone saved), asked for by
    a person (the CLI runs it as the machine's operator). Incremental runs start at the checkpoint the
    last successful run reached (a full run when there is none). The outcome is kept and audited."""
    require(reader, READERS)
    extra = []
    if witness is not None:
        try:
            extra.append(Claim.parse(witness, "witness file"))
        except ValueError as e:
            raise Invalid(f"The checkpoint given is unusable: {e}", slug="invalid-checkpoint") from None
    start = None
    if mode == VerificationMode.INCREMENTAL:
        last = await repo.last_verification(s, ok=True)
        start = last.checkpoint_seq if last is not None else None
        if not start:
            mode = VerificationMode.FULL
    result = await verification.verify(s, signer, store, mode=mode, from_checkpoint=start, extra=extra, tsa_ca=tsa_ca)
    row = AuditVerification(id=new_id("ver"), at=utcnow(), mode=mode, by=reader.sub, ok=result.ok,
                            from_seq=result.from_seq, events=result.events,
                            checkpoint_seq=result.latest_checkpoint_seq if result.ok else None,
                            first_bad_seq=result.first_bad_seq, reason=(result.reason or "")[:2000] or None)
    await repo.add_verification(s, row)
    result.verification_id = row.id
    await record(s, reader, "audit.verified", "audit", row.id,
                 {"mode": mode, "ok": result.ok, "from_seq": result.from_seq, "events": result.events,
                  "checkpoint_seq": result.latest_checkpoint_seq, "first_bad_seq": result.first_bad_seq,
                  "reason": result.reason})
    return result


async def last_verification(s: AsyncSession, reader: Principal) -> AuditVerification | None:
    require(reader, READERS)
    return await repo.last_verification(s)


async def make_checkpoint(s: AsyncSession, actor: Principal, ctx: Context) -> AuditCheckpoint | None:
    """Sign the chain head now (an operator's ``bwv audit checkpoint``, a bundle build, the periodic job)."""
    return await checkpoints.make(s, actor, ctx.signer, ctx.store, retain_days=ctx.settings.checkpoint_retain_days,
                                  stamper=stamper_for(ctx.settings.tsa_url))


async def list_checkpoints(s: AsyncSession, reader: Principal, page: PageParams) -> CheckpointPage:
    require(reader, READERS)
    before = after_seq(page) or None  # newest first: the cursor is the last seq shown
    rows = await repo.checkpoints(s, before_seq=before, limit=page.limit + 1, newest_first=True)
    rows, nxt = cut(rows, page, lambda c: [c.seq])
    return CheckpointPage(items=[CheckpointOut(**checkpoints.document(r)) for r in rows], next_cursor=nxt)


async def latest_checkpoint_or_none(s: AsyncSession, reader: Principal) -> CheckpointOut | None:
    require(reader, READERS)
    cp = await repo.latest_checkpoint(s)
    return CheckpointOut(**checkpoints.document(cp)) if cp is not None else None


async def latest_checkpoint(s: AsyncSession) -> CheckpointOut:
    """Public (no login): the newest checkpoint, for witnesses to keep."""
    cp = await repo.latest_checkpoint(s)
    if cp is None:
        raise NotFound("No checkpoint has been signed yet.", slug="no-checkpoint")
    return CheckpointOut(**checkpoints.document(cp))
