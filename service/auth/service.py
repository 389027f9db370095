"""Tokens (python-jose) and dock registration.

HS256 with BWV_SECRET_KEY for tokens bodycam issues itself; RS256 tokens from a force identity
provider are accepted when a JWKS is configured. Verification never disables signature checks.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from jose import JWTError, jwt
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import service as audit
from service.auth import repository as repo
from service.auth.models import Dock
from service.auth.schemas import ROLES, Principal, reserved_id
from service.config import Settings
from service.errors import Invalid, NotFound, Unauthorized
from service.timeutil import iso, utcnow

DOCK_TOKEN_TTL = 10 * 365 * 24 * 3600  # docks are long-lived; revocation is what ends them


EXTERNAL = "bwv:provider"  # set by decode() on RS256 claims: the force's provider vouched, not bodycam


class TokenService:
    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utcnow):
        self._hs_key = settings.signing_key()
        self._jwks = json.loads(settings.jwks_file.read_text()) if settings.jwks_file else None
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._clock = clock

    def issue(self, sub: str, roles: list[str], ttl_s: int = 3600, *, jti: str | None = None,
              extra: dict | None = None) -> tuple[str, dict]:
        if not sub or len(sub) > 200:
            raise Invalid("sub must be 1-200 characters")
        unknown = sorted(set(roles) - set(ROLES))
        if not roles or unknown:
            raise Invalid(f"roles must be some of {', '.join(ROLES)}; got unknown {unknown or 'none'}")
        if ttl_s <= 0 or ttl_s > DOCK_TOKEN_TTL:
            raise Invalid(f"ttl must be 1-{DOCK_TOKEN_TTL} seconds", slug="invalid-ttl")
        now = self._clock()
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
        kw = {"audience": self._audience, "issuer": self._issuer}
        try:
            if alg == "HS256":
                claims = jwt.decode(token, self._hs_key, algorithms=["HS256"],
                                    options={"verify_aud": self._audience is not None}, **kw)
                claims.pop(EXTERNAL, None)
            elif alg == "RS256" and self._jwks is not None and self._audience:
                # python-jose passes a token without `aud` even when an audience is given: require it, or a
                # token the provider minted for any other application would open bodycam.
                claims = jwt.decode(token, self._jwks, algorithms=["RS256"],
                                    options={"verify_aud": True, "require_aud": True}, **kw)
                # A provider's `sid` is its own session id, never one of the console's sessions.
                claims.pop("sid", None)
                claims[EXTERNAL] = True
            else:
                raise Unauthorized(f"Tokens signed with {alg!r} are not accepted.", slug="invalid-token")
        except JWTError as e:
            raise Unauthorized(f"The bearer token was refused: {e}.", slug="invalid-token") from e
        roles = claims.get("roles")
        if not isinstance(claims.get("sub"), str) or not isinstance(roles, list) or "exp" not in claims:
            raise Unauthorized("The token lacks sub, roles or exp.", slug="invalid-token")
        if claims.get(EXTERNAL) and reserved_id(claims["sub"]):
            raise Unauthorized("A provider's token cannot name one of bodycam's own actors.", slug="invalid-token")
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
    await _refuse_revoked(session, claims)
    if claims.get(EXTERNAL):
        user = await repo.get_user(session, claims["sub"])
        if user is not None and user.source == "local":
            raise Unauthorized("A provider's token cannot act as a local console account.",
                               slug="identity-collision")
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


async def _refuse_revoked(session: AsyncSession, claims: dict) -> None:
    """Read on every request, by every process: a revocation holds everywhere once it commits."""
    jti = claims.get("jti") if isinstance(claims.get("jti"), str) else None
    jti_revoked, sub_revoked_at = await repo.revoked_since(session, claims["sub"], jti)
    if jti_revoked:
        raise Unauthorized("This token was revoked.", slug="token-revoked")
    if sub_revoked_at is not None:
        iat = claims.get("iat")
        # `iat` has whole seconds: a token from the revocation's own second counts as issued before it.
        if not isinstance(iat, int | float) or iat <= sub_revoked_at.timestamp():
            raise Unauthorized("Tokens issued to this person before a revocation are refused; get a new one.",
                               slug="token-revoked")


async def issue_person_token(session: AsyncSession, tokens: TokenService, settings: Settings, actor: Principal,
                             sub: str, roles: list[str], ttl_s: int) -> tuple[str, dict]:
    """``bwv token issue``: bounded by BWV_MAX_TOKEN_TTL_S unless it is only a dock's (docks are ended by
    revocation, not expiry) and audited with everything but the token itself."""
    if reserved_id(sub or ""):
        raise Invalid(f"sub {sub!r} is reserved for bodycam's own actors.", slug="reserved-id")
    people_roles = set(roles) - {"dock"}
    if people_roles and ttl_s > settings.max_token_ttl_s:
        raise Invalid(f"ttl {ttl_s} s is longer than a person's token may live (BWV_MAX_TOKEN_TTL_S = "
                      f"{settings.max_token_ttl_s} s).", slug="ttl-too-long", max_ttl_s=settings.max_token_ttl_s)
    token, claims = tokens.issue(sub, roles, ttl_s)
    await audit.record(session, actor, "token.issued", "token", claims["jti"],
                       {"sub": sub, "roles": claims["roles"], "jti": claims["jti"], "ttl_s": ttl_s,
                        "expires_at": iso(datetime.fromtimestamp(claims["exp"], UTC))})
    return token, claims


async def revoke_tokens(session: AsyncSession, actor: Principal, *, sub: str | None = None,
                        jti: str | None = None, now: datetime | None = None) -> None:
    """Revoke one token (jti) or every token a person holds now (sub); later tokens for them still work."""
    if (sub is None) == (jti is None):
        raise Invalid("Name exactly one of --sub or --jti.", slug="revoke-what")
    kind, value = ("sub", sub) if sub is not None else ("jti", jti)
    if not value or len(value) > 200:
        raise Invalid(f"--{kind} must be 1-200 characters.", slug="revoke-what")
    now = now or utcnow()
    await repo.add_revocation(session, kind, value, now, actor.sub)
    await audit.record(session, actor, "token.revoked", "token" if kind == "jti" else "person", value[:100],
                       {"kind": kind, "value": value, "revoked_at": iso(now)})
