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

import anyio.lowlevel
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import service as audit
from service.auth.roles import DISCLOSURE_STAFF, SAR_HANDLERS, require
from service.auth.schemas import Principal
from service.disclosure import repository as repo
from service.disclosure.models import Bundle, BundleStatus, Share, ShareState
from service.errors import Conflict, Gone, Invalid, NotFound, Problem, RangeNotSatisfiable
from service.http_range import ByteRange, parse_range
from service.ids import new_id
from service.timeutil import iso, utcnow

# What a response hands on at a time. Each piece is counted before it leaves, so a client that goes away
# costs the link at most the piece it was being sent (on top of what the network still held).
PIECE = 64 * 1024


def link_url(public_base_url: str, token: str) -> str:
    return f"{public_base_url.rstrip('/')}/v1/shared/{token}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def case_bundle(s: AsyncSession, bundle_id: str) -> Bundle:
    """A CPS case's bundle. A SAR's bundle is reachable only through its SAR: to these endpoints it does
    not exist (404, as for an unknown id, so they do not even confirm it)."""
    bundle = await repo.owned_bundle(s, bundle_id, sar_id=None)
    if bundle is None:
        raise NotFound(f"No bundle {bundle_id!r}.", slug="bundle-not-found")
    return bundle


async def case_share(s: AsyncSession, share_id: str, *, for_update: bool = False) -> Share:
    """A share of a case's bundle; a SAR's link is managed through its SAR only (404 here)."""
    share = await repo.owned_share(s, share_id, sar_id=None, for_update=for_update)
    if share is None:
        raise NotFound(f"No share {share_id!r}.", slug="share-not-found")
    return share


async def create_share(s: AsyncSession, actor: Principal, bundle_id: str, recipient: str, expires_at: datetime,
                       max_downloads: int, *, sar_id: str | None = None) -> tuple[Share, str]:
    """A new link to a bundle, and its token (shown once: only its hash is kept). A case's bundle is
    shared by disclosure staff once it is ready; a subject access request's (``sar_id``, its owner) by
    the request's handlers as soon as it is queued: that link answers 409 until the bundle is built."""
    if sar_id is None:
        require(actor, DISCLOSURE_STAFF)
        bundle = await case_bundle(s, bundle_id)
        if bundle.status != BundleStatus.READY:
            raise Conflict(f"Bundle {bundle_id} is {bundle.status}; share it once it is ready.", slug="bundle-not-ready")
    else:
        require(actor, SAR_HANDLERS)
        bundle = await repo.owned_bundle(s, bundle_id, sar_id=sar_id)
        if bundle is None:
            raise NotFound(f"No bundle {bundle_id!r}.", slug="bundle-not-found")
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


async def revoke(s: AsyncSession, actor: Principal, share_id: str, *, sar_id: str | None = None,
                 reason: str | None = None) -> Share:
    """End a link. A case's, by disclosure staff (409 when it already was); a subject access request's
    (``sar_id``), by its handlers when a new disclosure replaces it (a dead link is left as it is)."""
    require(actor, DISCLOSURE_STAFF if sar_id is None else SAR_HANDLERS)
    share = await repo.owned_share(s, share_id, sar_id=sar_id, for_update=True)
    if share is None:
        raise NotFound(f"No share {share_id!r}.", slug="share-not-found")
    if share.revoked_at is not None:
        if sar_id is not None:
            return share
        raise Conflict(f"Share {share_id} was already revoked.", slug="share-revoked")
    share.revoked_at, share.revoked_by = utcnow(), actor.sub
    await audit.record(s, actor, "share.revoked", "bundle", share.bundle_id,
                       {"share_id": share.id, **({"reason": reason} if reason else {})})
    return share


def state(share: Share, now: datetime, size: int | None = None) -> ShareState:
    """What a new download from this link would meet: active, or why it is dead (*size*, the bundle's,
    once it is built)."""
    if share.revoked_at is not None:
        return ShareState.REVOKED
    if share.expires_at <= now:
        return ShareState.EXPIRED
    if share.downloads >= share.max_downloads or (size is not None and share.bytes_served >= share.max_downloads * size):
        return ShareState.USED_UP
    return ShareState.ACTIVE


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
        return ShareState.REVOKED
    if share.expires_at <= now:
        return ShareState.EXPIRED
    if rng.start > 0 and share.downloads == 0:
        return "not started"
    if (rng.start == 0 and share.downloads >= share.max_downloads) or (
            share.bytes_served + rng.end - rng.start > share.max_downloads * size):
        return ShareState.USED_UP
    return None


@dataclass
class Download:
    """What a share link serves: the bundle, the bytes asked for, and their reservation."""

    bundle: Bundle
    range: ByteRange
    grant: Grant


async def find_by_token(s: AsyncSession, token: str) -> Share:
    """The share a link's token opens (404 for any other string)."""
    share = await repo.share_by_token_hash(s, _hash(token))
    # The lookup is by hash; the compare below keeps the final check constant-time as well.
    if share is None or not hmac.compare_digest(share.token_sha256, _hash(token)):
        raise NotFound("This link does not exist.", slug="share-not-found")
    return share


async def open_download(s: AsyncSession, token: str, range_header: str | None, ip: str | None,
                        user_agent: str | None) -> Download | Problem:
    """Check the token, reserve the bytes, audit the access. A refusal is audited and returned, not
    raised, so that the edge commits its audit event before answering with it."""
    who = Principal(sub="share-link", roles=frozenset(), ip=ip, user_agent=user_agent)
    share = await find_by_token(s, token)
    bundle = await repo.get_bundle(s, share.bundle_id)
    now = utcnow()
    unsatisfiable: RangeNotSatisfiable | None = None
    rng, why = None, state(share, now) if share.revoked_at or share.expires_at <= now else None
    if why is None and bundle.status != BundleStatus.READY:
        why = "not ready"  # a SAR link exists before its bundle is built: refused, nothing counted
    elif why is None:
        try:
            rng = parse_range(range_header, bundle.size_bytes)
        except RangeNotSatisfiable as e:
            unsatisfiable, why = e, "range not satisfiable"
        else:
            why = _refusal(share, now, bundle.size_bytes, rng)
            if why is None and not await repo.reserve(s, share.id, now, bundle.size_bytes, rng.start,
                                                      rng.end - rng.start):
                # Another request took the last of it a moment ago: say why as it stands now.
                await s.refresh(share)
                why = _refusal(share, utcnow(), bundle.size_bytes, rng) or ShareState.USED_UP
    await audit.record(s, who, "share.accessed" if why is None else "share.refused", "bundle", bundle.id,
                       {"share_id": share.id, "recipient": share.recipient, "why": why,
                        "range": [rng.start, rng.end - 1] if rng and rng.partial else None,
                        "bytes": rng.end - rng.start if rng and why is None else 0, "user_agent": user_agent})
    if unsatisfiable is not None:
        return unsatisfiable
    if why == "not ready":
        return Conflict(f"The download is being prepared ({bundle.status}); try again later.",
                        slug="bundle-not-ready", status_value=bundle.status)
    if why == "not started":
        return Conflict("Start the download from the beginning before resuming it.", slug="share-not-started")
    if why is not None:
        left = max(0, share.max_downloads * (bundle.size_bytes or 0) - share.bytes_served)
        extra = {"bytes_left": left} if why == ShareState.USED_UP else {}
        return Gone(f"This link is {why}.", slug=f"share-{why.replace(' ', '-')}", reason=str(why),
                    expires_at=iso(share.expires_at), **extra)
    return Download(bundle, rng, Grant(share.id, rng.end - rng.start, who, bundle.id))


async def metered(grant: Grant, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """*body* in pieces, each counted as sent before it is handed on (never more than was reserved). Each piece
    starts with a checkpoint: a server's send need not yield (uvicorn's only does when its buffer is full), and
    without one a client that went away is noticed only at the next storage read, every piece up to it counted
    as sent and never given back."""
    async for chunk in body:
        view = memoryview(chunk)
        for at in range(0, len(view), PIECE):
            await anyio.lowlevel.checkpoint()  # a disconnect that arrived meanwhile cancels us here
            piece = view[at:at + PIECE]
            if grant.sent + len(piece) > grant.reserved:
                raise RuntimeError(f"share {grant.share_id}: the store gave more than the range reserved")
            grant.sent += len(piece)
            yield bytes(piece)


async def settle(s: AsyncSession, grant: Grant) -> None:
    """Give back what a response reserved and did not send (its client went away), in the edge's own
    transaction after the response: a lost give-back would only shrink the allowance."""
    unsent = grant.reserved - grant.sent
    await repo.give_back(s, grant.share_id, unsent)
    await audit.record(s, grant.who, "share.interrupted", "bundle", grant.bundle_id,
                       {"share_id": grant.share_id, "bytes_sent": grant.sent, "bytes_returned": unsent,
                        "user_agent": grant.who.user_agent})
