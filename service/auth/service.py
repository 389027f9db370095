"""Tokens (python-jose) and dock registration.

HS256 with BWV_SECRET_KEY for tokens bodycam issues itself; RS256 tokens from a force identity
provider are accepted when a JWKS is configured. Verification never disables signature checks.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta

from jose import JWTError, jwt
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import service as audit
from service.auth import repository as repo
from service.auth.models import Dock
from service.auth.schemas import ROLES, Principal
from service.config import Settings
from service.errors import Invalid, NotFound, Unauthorized
from service.timeutil import utcnow

DOCK_TOKEN_TTL = 10 * 365 * 24 * 3600  # docks are long-lived; revocation is what ends them


class TokenService:
    def __init__(self, settings: Settings):
        self._hs_key = settings.signing_key()
        self._jwks = json.loads(settings.jwks_file.read_text()) if settings.jwks_file else None
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience

    def issue(self, sub: str, roles: list[str], ttl_s: int = 3600, *, jti: str | None = None,
              extra: dict | None = None) -> tuple[str, dict]:
        if not sub or len(sub) > 200:
            raise Invalid("sub must be 1-200 characters")
        unknown = sorted(set(roles) - set(ROLES))
        if not roles or unknown:
            raise Invalid(f"roles must be some of {', '.join(ROLES)}; got unknown {unknown or 'none'}")
        if ttl_s <= 0:
            raise Invalid("ttl must be positive")
        now = utcnow()
        claims = {"sub": sub, "roles": sorted(set(roles)), "iat": int(now.timestamp()),
                  "exp": int((now + timedelta(seconds=ttl_s)).timestamp()), "jti": jti or secrets.token_hex(16)}
        claims.update(extra or {})
        if self._issuer:
            claims["iss"] = self._issuer
        return jwt.encode(claims, self._hs_key, algorithm="HS256"), claims

    def decode(self, token: str) -> dict:
        try:
            header = jwt.get_unverified_header(token)
        except JWTError as e:
            raise Unauthorized("The bearer token is malformed.", slug="invalid-token") from e
        alg = header.get("alg")
        options = {"verify_aud": self._audience is not None}
        kw = {"audience": self._audience, "issuer": self._issuer}
        try:
            if alg == "HS256":
                claims = jwt.decode(token, self._hs_key, algorithms=["HS256"], options=options, **kw)
            elif alg == "RS256" and self._jwks is not None:
                claims = jwt.decode(token, self._jwks, algorithms=["RS256"], options=options, **kw)
            else:
                raise Unauthorized(f"Tokens signed with {alg!r} are not accepted.", slug="invalid-token")
        except JWTError as e:
            raise Unauthorized(f"The bearer token was refused: {e}.", slug="invalid-token") from e
        roles = claims.get("roles")
        if not isinstance(claims.get("sub"), str) or not isinstance(roles, list) or "exp" not in claims:
            raise Unauthorized("The token lacks sub, roles or exp.", slug="invalid-token")
        return claims


async def session_is_live(session: AsyncSession, sid: str) -> bool:
    """A console session works until it is signed out, expires, or its account is disabled."""
    ws = await repo.get_web_session(session, sid)
    if ws is None or ws.ended_at is not None or ws.expires_at <= utcnow():
        return False
    user = await repo.get_user(session, ws.username)
    return user is not None and user.disabled_at is None


async def principal_from_claims(session: AsyncSession, claims: dict, ip: str | None,
                                user_agent: str | None) -> Principal:
    roles = frozenset(r for r in claims["roles"] if r in ROLES)
    if "dock" in roles:
        dock = await repo.get_dock(session, claims["sub"])
        if dock is None or dock.revoked_at is not None or dock.token_jti != claims.get("jti"):
            raise Unauthorized("This dock is not registered or its token was revoked.", slug="dock-revoked")
    sid = claims.get("sid")
    if sid is not None:  # a console session's token: only while that session is live
        if not isinstance(sid, str) or not await session_is_live(session, sid):
            raise Unauthorized("This console session has ended; sign in again.", slug="session-ended")
    return Principal(sub=claims["sub"], roles=roles, jti=claims.get("jti"), ip=ip, user_agent=user_agent)


async def register_dock(session: AsyncSession, tokens: TokenService, actor: Principal, dock_id: str,
                        site: str | None) -> str:
    """(Re-)register a dock; a re-registration replaces its token, so the old one stops working."""
    if not dock_id or len(dock_id) > 100 or not dock_id.replace("-", "").replace("_", "").isalnum():
        raise Invalid("A dock id is 1-100 letters, digits, '-' or '_'.")
    jti = secrets.token_hex(16)
    token, _ = tokens.issue(dock_id, ["dock"], DOCK_TOKEN_TTL, jti=jti)
    dock = await repo.get_dock(session, dock_id, for_update=True)
    if dock is None:
        session.add(Dock(id=dock_id, site=site, token_jti=jti, registered_at=utcnow()))
    else:
        dock.site, dock.token_jti, dock.revoked_at = site or dock.site, jti, None
    await audit.record(session, actor, "dock.registered", "dock", dock_id, {"site": site})
    return token


async def revoke_dock(session: AsyncSession, actor: Principal, dock_id: str) -> None:
    dock = await repo.get_dock(session, dock_id, for_update=True)
    if dock is None:
        raise NotFound(f"No dock {dock_id!r} is registered.")
    dock.revoked_at = utcnow()
    await audit.record(session, actor, "dock.revoked", "dock", dock_id, {})
