"""Verification an insider with the database cannot fool (DESIGN.md rules 5 and 8).

The chain alone only proves itself: whoever can write the table can recompute every hash. So the walk is
also held against every signed checkpoint (the write-once copies in object storage, the database's rows,
and any a witness saved): each must carry the force's signature, the chain must still hash to each, and
the chain must reach the newest. Rewriting history, truncating or emptying the log, and deleting
checkpoint rows are all caught; a rewrite is located between the last checkpoint that still matches and
the first that does not.

Incremental mode starts at the checkpoint the last successful run reached (its event must still hash to
its signed value) and walks only what came after: a daily check reads a day of events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import repository as repo
from service.audit.chain import GENESIS, event_hash
from service.audit.checkpoints import Claim, stored
from service.audit.models import VerificationMode
from service.audit.schemas import VerifyResult
from service.signing.keys import Signer
from service.signing.tsa import verify_token
from service.storage import ObjectStore


def chain_break(ev, expected_seq: int, prev: str, count: int) -> VerifyResult | None:
    """Why *ev* (the ``count``-th event read) does not continue the chain after ``prev`` at ``expected_seq``,
    or None: a missing or reordered event, a broken link, or content that no longer matches its hash."""
    if ev.seq != expected_seq:
        return VerifyResult(ok=False, events=count, first_bad_seq=expected_seq,
                            reason=f"event {expected_seq} is missing or out of order")
    if ev.prev_hash != prev:
        return VerifyResult(ok=False, events=count, first_bad_seq=ev.seq,
                            reason="prev_hash does not match the previous event")
    recomputed = event_hash(seq=ev.seq, at=ev.at, actor=ev.actor, roles=ev.roles, action=ev.action,
                            object_type=ev.object_type, object_id=ev.object_id, details=ev.details,
                            ip=ev.ip, prev_hash=ev.prev_hash)
    if recomputed != ev.hash:
        return VerifyResult(ok=False, events=count, first_bad_seq=ev.seq,
                            reason="event content does not match its hash")
    return None


@dataclass
class Witnesses:
    """Signed claims ``seq -> hash`` the chain must agree with, and what was wrong with the rest."""

    hashes: dict[int, Claim] = field(default_factory=dict)
    problems: list[tuple[int, str]] = field(default_factory=list)

    def add(self, claim: Claim, signer: Signer) -> None:
        why = claim.problem(signer)
        if why is not None:
            self.problems.append((claim.seq, why))
            return
        known = self.hashes.get(claim.seq)
        if known is not None and known.hash != claim.hash:
            # Both carry the force's signature: only a stolen key makes this; say so, trust neither alone.
            self.problems.append((claim.seq, f"checkpoint {claim.seq} is signed with two different hashes "
                                              f"({known.source} and {claim.source})"))
            return
        self.hashes.setdefault(claim.seq, claim)


async def walk(s: AsyncSession, witnesses: dict[int, Claim] | None = None, *, start: Claim | None = None) -> VerifyResult:
    """The chain from the start (or from the signed checkpoint *start*) to its end, against *witnesses*."""
    witnesses = witnesses or {}
    expected_seq, prev, count, matched = 1, GENESIS, 0, 0
    if start is not None:
        first = await repo.get_event(s, start.seq)
        if first is None or first.hash != start.hash:
            return VerifyResult(ok=False, events=0, first_bad_seq=start.seq, from_seq=start.seq,
                                reason=f"event {start.seq} no longer hashes to its signed checkpoint: "
                                       f"history up to it was rewritten or removed (run a full verification)")
        expected_seq, prev, matched = start.seq + 1, start.hash, start.seq
    async for ev in repo.stream_all(s, after=expected_seq - 1):
        count += 1
        if (broken := chain_break(ev, expected_seq, prev, count)) is not None:
            return broken
        claim = witnesses.get(ev.seq)
        if claim is not None:
            if claim.hash != ev.hash:
                return VerifyResult(
                    ok=False, events=count, first_bad_seq=matched + 1,
                    reason=f"the chain no longer hashes to signed checkpoint {ev.seq} ({claim.source}, "
                           f"{claim.at}): events {matched + 1}..{ev.seq} were rewritten and re-hashed")
            matched = ev.seq
        prev, expected_seq = ev.hash, ev.seq + 1
    last = expected_seq - 1
    beyond = [seq for seq in witnesses if seq > last]
    if beyond:
        top = witnesses[max(beyond)]
        return VerifyResult(ok=False, events=count, first_bad_seq=last + 1,
                            reason=f"the chain ends at event {last} but signed checkpoint {top.seq} ({top.source}, "
                                   f"{top.at}) covers {top.seq} events: events {last + 1}..{top.seq} were removed")
    head = await repo.get_head(s)
    if head is not None and (head.seq != last or head.hash != prev):
        return VerifyResult(ok=False, events=count, first_bad_seq=last + 1,
                            reason=f"the chain ends at {last} but its head records {head.seq}")
    if head is None and last:
        return VerifyResult(ok=False, events=count, first_bad_seq=1, reason="the chain head is missing")
    return VerifyResult(ok=True, events=count, first_bad_seq=None)


async def verify(s: AsyncSession, signer: Signer, store: ObjectStore, *,
                 mode: VerificationMode = VerificationMode.FULL, from_checkpoint: int | None = None,
                 extra: list[Claim] | None = None, tsa_ca: str | None = None) -> VerifyResult:
    """The chain against every signed checkpoint (from *from_checkpoint* on in incremental mode)."""
    start_at = (from_checkpoint or 0) if mode == VerificationMode.INCREMENTAL else 0
    rows = {cp.seq: cp for cp in await repo.checkpoints(s, after_seq=start_at - 1 if start_at else 0)}
    all_db = set(rows) if not start_at else {cp.seq for cp in await repo.checkpoints(s)}
    stored_seqs, copies = await stored(store, from_seq=start_at)
    w = Witnesses()
    for seq, copy in copies.items():
        if isinstance(copy, str):
            w.problems.append((seq, copy))
        else:
            w.add(copy, signer)
    for seq, row in rows.items():
        claim = Claim.of_row(row)
        copy = copies.get(seq)
        if copy is None:
            w.problems.append((seq, f"checkpoint {seq} in the database has no write-once copy in storage"))
        elif isinstance(copy, Claim) and (copy.hash, copy.signature, copy.at) != (claim.hash, claim.signature, claim.at):
            w.problems.append((seq, f"checkpoint {seq} in the database differs from its write-once copy in storage"))
        w.add(claim, signer)
    for seq in sorted(set(stored_seqs) - all_db):
        if seq >= start_at:
            w.problems.append((seq, f"checkpoint {seq} is in storage but missing from the database (deleted?)"))
    for claim in extra or []:
        if mode == VerificationMode.FULL or claim.seq >= start_at:
            w.add(claim, signer)
    if tsa_ca:  # trusted time: every time-stamped checkpoint's token must be the authority's, over its bytes
        for seq, claim in sorted(w.hashes.items()):
            if claim.tsa_token is not None:
                why = await verify_token(claim.message, claim.tsa_token, tsa_ca)
                if why is not None:
                    w.problems.append((seq, f"checkpoint {seq}'s time-stamp does not verify: {why}"))
    start = w.hashes.get(start_at) if start_at else None
    if start_at and start is None:
        result = VerifyResult(ok=False, events=0, first_bad_seq=start_at,
                              reason=f"checkpoint {start_at}, where this incremental run starts, has no valid signed copy")
    else:
        result = await walk(s, w.hashes, start=start)
    result.mode, result.from_seq = mode, (start_at + 1 if start_at else 1)
    result.checkpoints = len(w.hashes)
    result.latest_checkpoint_seq = max(w.hashes, default=None)
    if result.ok and w.problems:
        seq, why = min(w.problems)
        result.ok, result.first_bad_seq, result.reason = False, seq, why
    return result
