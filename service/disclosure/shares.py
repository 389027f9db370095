"""Share links for the CPS: a 256-bit token is the capability (no login); only its hash is stored.

A link never serves more than ``max_downloads`` x the bundle's size. Every request reserves the length
of what it asks for in ``bytes_served`` with one conditional UPDATE before a byte streams (so however
many requests race, the reservations never pass the allowance), and gives back what it did not send
when its response ends: an interrupted download can be resumed with a Range request within what is
left. A request from byte 0 also counts one download (at most ``max_downloads`` of them); a request
later in the file resumes, and only after a counted download. Expired and revoked links serve nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import anyio
from sqlalchemy import BigInteger, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import service as audit
from service.auth.schemas import Principal
from service.context import Context
from service.db import transaction
from service.disclosure import repository as repo
from service.disclosure.models import Bundle, Share
from service.errors import Conflict, Gone, Invalid, NotFound, RangeNotSatisfiable
from service.ids import new_id
from service.recordings.service import ByteRange, parse_range
from service.timeutil import iso, utcnow

# What a response hands on at a time. Each piece is counted before it leaves, so a client that goes away
# costs the link at most the piece it was being sent (on top of what the network still held).
PIECE = 64 * 1024


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def case_bundle(s: AsyncSession, bundle_id: str) -> Bundle:
    """A CPS case's bundle. A SAR's bundle is reachable only through its SAR: to these endpoints it does
    not exist (404, as for an unknown id, so they do not even confirm it)."""
    bundle = await repo.case_bundle(s, bundle_id)
    if bundle is None:
        raise NotFound(f"No bundle {bundle_id!r}.", slug="bundle-not-found")
    return bundle


async def case_share(s: AsyncSession, share_id: str, *, for_update: bool = False) -> Share:
    """A share of a case's bundle; a SAR's link is managed through its SAR only (404 here)."""
    share = await repo.case_share(s, share_id, for_update=for_update)
    if share is None:
        raise NotFound(f"No share {share_id!r}.", slug="share-not-found")
    return share


async def create_share(ctx: Context, actor: Principal, bundle_id: str, recipient: str, expires_at: datetime,
                       max_downloads: int) -> tuple[Share, str]:
    async with transaction(ctx.sessions) as s:
        bundle = await case_bundle(s, bundle_id)
        if bundle.status != "ready":
            raise Conflict(f"Bundle {bundle_id} is {bundle.status}; share it once it is ready.", slug="bundle-not-ready")
        return await issue(s, actor, bundle, recipient, expires_at, max_downloads)


async def issue(s: AsyncSession, actor: Principal, bundle: Bundle, recipient: str, expires_at: datetime,
                max_downloads: int) -> tuple[Share, str]:
    """A new link to *bundle*, inside the caller's transaction. A link to a bundle still being built
    (a SAR disclosure) answers 409 until it is ready."""
    if max_downloads <= 0:
        raise Invalid("max_downloads must be at least 1.", slug="invalid-max-downloads")
    if expires_at <= utcnow():
        raise Invalid("expires_at is in the past.", slug="invalid-expiry")
    token = secrets.token_urlsafe(32)  # 256 random bits
    share = Share(id=new_id("shr"), bundle_id=bundle.id, token_sha256=_hash(token), recipient=recipient,
                  expires_at=expires_at, max_downloads=max_downloads, downloads=0, created_by=actor.sub,
                  created_at=utcnow())
    s.add(share)
    await s.flush()
    await audit.record(s, actor, "share.created", "bundle", bundle.id,
                       {"share_id": share.id, "recipient": recipient, "expires_at": expires_at,
                        "max_downloads": max_downloads})
    return share, token


async def revoke(ctx: Context, actor: Principal, share_id: str) -> Share:
    async with transaction(ctx.sessions) as s:
        share = await case_share(s, share_id, for_update=True)
        if share.revoked_at is not None:
            raise Conflict(f"Share {share_id} was already revoked.", slug="share-revoked")
        await revoke_in_session(s, actor, share)
        return share


async def revoke_in_session(s: AsyncSession, actor: Principal, share: Share, reason: str | None = None) -> None:
    share.revoked_at, share.revoked_by = utcnow(), actor.sub
    await audit.record(s, actor, "share.revoked", "bundle", share.bundle_id,
                       {"share_id": share.id, **({"reason": reason} if reason else {})})


def state(share: Share, now: datetime, size: int | None = None) -> str:
    """What a new download from this link would meet: active, or why it is dead (*size*, the bundle's,
    once it is built)."""
    if share.revoked_at is not None:
        return "revoked"
    if share.expires_at <= now:
        return "expired"
    if share.downloads >= share.max_downloads or (size is not None and share.bytes_served >= share.max_downloads * size):
        return "used up"
    return "active"


@dataclass
class Grant:
    """Bytes reserved for one response; ``sent`` counts what it has handed on."""

    share_id: str
    reserved: int
    who: Principal
    bundle_id: str
    sent: int = 0
    settled: bool = False


def _refusal(share: Share, now: datetime, size: int, rng: ByteRange) -> str | None:
    if share.revoked_at is not None:
        return "revoked"
    if share.expires_at <= now:
        return "expired"
    if rng.start > 0 and share.downloads == 0:
        return "not started"
    if (rng.start == 0 and share.downloads >= share.max_downloads) or (
            share.bytes_served + rng.end - rng.start > share.max_downloads * size):
        return "used up"
    return None


async def _reserve(s: AsyncSession, share: Share, now: datetime, size: int, rng: ByteRange) -> bool:
    """One conditional UPDATE: it holds the row while it checks, so racing requests cannot overspend."""
    length = literal(rng.end - rng.start, BigInteger)
    fresh = rng.start == 0
    counted = await s.execute(
        update(Share).where(Share.id == share.id, Share.revoked_at.is_(None), Share.expires_at > now,
                            Share.bytes_served + length <= Share.max_downloads * literal(size, BigInteger),
                            Share.downloads < Share.max_downloads if fresh else Share.downloads > 0)
        .values(bytes_served=Share.bytes_served + length, downloads=Share.downloads + (1 if fresh else 0))
        .returning(Share.id).execution_options(synchronize_session=False))
    return counted.scalar_one_or_none() is not None


async def open_download(ctx: Context, token: str, range_header: str | None, ip: str | None,
                        user_agent: str | None) -> tuple[Bundle, ByteRange, Grant]:
    """Check the token, reserve the bytes, audit the access (refused ones too) — one transaction."""
    who = Principal(sub="share-link", roles=frozenset(), ip=ip, user_agent=user_agent)
    unsatisfiable: RangeNotSatisfiable | None = None
    async with transaction(ctx.sessions) as s:
        share = (await s.execute(select(Share).where(Share.token_sha256 == _hash(token)))).scalars().first()
        # The lookup is by hash; the compare below keeps the final check constant-time as well.
        if share is None or not hmac.compare_digest(share.token_sha256, _hash(token)):
            raise NotFound("This link does not exist.", slug="share-not-found")
        bundle = await s.get(Bundle, share.bundle_id)
        now = utcnow()
        rng, why = None, state(share, now) if share.revoked_at or share.expires_at <= now else None
        if why is None and bundle.status != "ready":
            why = "not ready"  # a SAR link exists before its bundle is built: refused, nothing counted
        elif why is None:
            try:
                rng = parse_range(range_header, bundle.size_bytes)
            except RangeNotSatisfiable as e:
                unsatisfiable, why = e, "range not satisfiable"
            else:
                why = _refusal(share, now, bundle.size_bytes, rng)
                if why is None and not await _reserve(s, share, now, bundle.size_bytes, rng):
                    # Another request took the last of it a moment ago: say why as it stands now.
                    await s.refresh(share)
                    why = _refusal(share, utcnow(), bundle.size_bytes, rng) or "used up"
        await audit.record(s, who, "share.accessed" if why is None else "share.refused", "bundle", bundle.id,
                           {"share_id": share.id, "recipient": share.recipient, "why": why,
                            "range": [rng.start, rng.end - 1] if rng and rng.partial else None,
                            "bytes": rng.end - rng.start if rng and why is None else 0, "user_agent": user_agent})
        left = max(0, share.max_downloads * (bundle.size_bytes or 0) - share.bytes_served)
    if unsatisfiable is not None:
        raise unsatisfiable
    if why == "not ready":
        raise Conflict(f"The download is being prepared ({bundle.status}); try again later.",
                       slug="bundle-not-ready", status_value=bundle.status)
    if why == "not started":
        raise Conflict("Start the download from the beginning before resuming it.", slug="share-not-started")
    if why is not None:
        extra = {"bytes_left": left} if why == "used up" else {}
        raise Gone(f"This link is {why}.", slug=f"share-{why.replace(' ', '-')}", reason=why,
                   expires_at=iso(share.expires_at), **extra)
    return bundle, rng, Grant(share.id, rng.end - rng.start, who, bundle.id)


async def metered(grant: Grant, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """*body* in pieces, each counted as sent before it is handed on (never more than was reserved)."""
    async for chunk in body:
        view = memoryview(chunk)
        for at in range(0, len(view), PIECE):
            piece = view[at:at + PIECE]
            if grant.sent + len(piece) > grant.reserved:
                raise RuntimeError(f"share {grant.share_id}: the store gave more than the range reserved")
            grant.sent += len(piece)
            yield bytes(piece)


async def settle(ctx: Context, grant: Grant) -> None:
    """Give back what a response reserved and did not send (its client went away). Shielded: it runs
    while the response is being cancelled, and a lost give-back would only shrink the allowance."""
    if grant.settled:
        return
    grant.settled = True
    unsent = grant.reserved - grant.sent
    if unsent <= 0:
        return
    with anyio.CancelScope(shield=True):
        async with transaction(ctx.sessions) as s:
            await s.execute(update(Share).where(Share.id == grant.share_id)
                            .values(bytes_served=Share.bytes_served - literal(unsent, BigInteger)))
            await audit.record(s, grant.who, "share.interrupted", "bundle", grant.bundle_id,
                               {"share_id": grant.share_id, "bytes_sent": grant.sent, "bytes_returned": unsent,
                                "user_agent": grant.who.user_agent})
