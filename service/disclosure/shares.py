"""Share links for the CPS: a 256-bit token is the capability (no login); only its hash is stored.

A download counts when a request starts at byte 0; a Range request that resumes later in the file does
not (a prosecutor on a bad connection must be able to finish), but only works while the link is live
and after a counted download. Counting is one conditional UPDATE, so the limit is exact however many
downloads race.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import service as audit
from service.auth.schemas import Principal
from service.context import Context
from service.db import transaction
from service.disclosure.models import Bundle, Share
from service.errors import Conflict, Gone, Invalid, NotFound
from service.ids import new_id
from service.recordings.service import ByteRange, parse_range
from service.timeutil import iso, utcnow


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_share(ctx: Context, actor: Principal, bundle_id: str, recipient: str, expires_at: datetime,
                       max_downloads: int) -> tuple[Share, str]:
    async with transaction(ctx.sessions) as s:
        bundle = await s.get(Bundle, bundle_id)
        if bundle is None:
            raise NotFound(f"No bundle {bundle_id!r}.", slug="bundle-not-found")
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
        share = await s.get(Share, share_id, with_for_update=True, populate_existing=True)
        if share is None:
            raise NotFound(f"No share {share_id!r}.", slug="share-not-found")
        if share.revoked_at is not None:
            raise Conflict(f"Share {share_id} was already revoked.", slug="share-revoked")
        await revoke_in_session(s, actor, share)
        return share


async def revoke_in_session(s: AsyncSession, actor: Principal, share: Share, reason: str | None = None) -> None:
    share.revoked_at, share.revoked_by = utcnow(), actor.sub
    await audit.record(s, actor, "share.revoked", "bundle", share.bundle_id,
                       {"share_id": share.id, **({"reason": reason} if reason else {})})


def state(share: Share, now: datetime) -> str:
    """What a new download from this link would meet: active, or why it is dead."""
    return _dead(share, now) or "active"


def _dead(share: Share, now: datetime) -> str | None:
    if share.revoked_at is not None:
        return "revoked"
    if share.expires_at <= now:
        return "expired"
    if share.downloads >= share.max_downloads:
        return "used up"
    return None


async def open_download(ctx: Context, token: str, range_header: str | None, ip: str | None,
                        user_agent: str | None) -> tuple[Bundle, ByteRange]:
    """Check the token, count the download, audit the access (also refused ones) — one transaction."""
    who = Principal(sub="share-link", roles=frozenset(), ip=ip, user_agent=user_agent)
    async with transaction(ctx.sessions) as s:
        share = (await s.execute(select(Share).where(Share.token_sha256 == _hash(token)))).scalars().first()
        # The lookup is by hash; the compare below keeps the final check constant-time as well.
        if share is None or not hmac.compare_digest(share.token_sha256, _hash(token)):
            raise NotFound("This link does not exist.", slug="share-not-found")
        bundle = await s.get(Bundle, share.bundle_id)
        now = utcnow()
        if bundle.status != "ready":
            # A SAR link exists before its bundle is built: refused without counting, try again later.
            rng, why = None, _dead(share, now) or "not ready"
        else:
            rng = parse_range(range_header, bundle.size_bytes)
            resuming = rng.partial and rng.start > 0
            why = _dead(share, now) if not resuming else (
                "revoked" if share.revoked_at else "expired" if share.expires_at <= now else
                None if share.downloads > 0 else "not started")
            if why is None and not resuming:
                counted = await s.execute(
                    update(Share).where(Share.id == share.id, Share.downloads < Share.max_downloads,
                                        Share.revoked_at.is_(None), Share.expires_at > now)
                    .values(downloads=Share.downloads + 1).returning(Share.downloads))
                if counted.scalar_one_or_none() is None:
                    why = "used up"  # another download took the last one a moment ago
        await audit.record(s, who, "share.accessed" if why is None else "share.refused", "bundle", bundle.id,
                           {"share_id": share.id, "recipient": share.recipient, "why": why,
                            "range": [rng.start, rng.end - 1] if rng and rng.partial else None,
                            "user_agent": user_agent})
    if why == "not ready":
        raise Conflict(f"The download is being prepared ({bundle.status}); try again later.",
                       slug="bundle-not-ready", status_value=bundle.status)
    if why == "not started":
        raise Conflict("Start the download from the beginning before resuming it.", slug="share-not-started")
    if why is not None:
        raise Gone(f"This link is {why}.", slug=f"share-{why.replace(' ', '-')}", reason=why,
                   expires_at=iso(share.expires_at))
    return bundle, rng
