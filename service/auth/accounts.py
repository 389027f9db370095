"""Console accounts and browser sessions: argon2id passwords, lockout, sessions that sign-out ends.

A browser session is a row in ``web_sessions`` plus a JWT (issued by the same TokenService as every
other token) whose ``sid`` claim names the row. The JWT alone is not enough: a session that was
signed out, expired or whose account was disabled is refused wherever its token turns up.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import service as audit
from service.auth import repository as repo
from service.auth.models import User, WebSession
from service.auth.schemas import ROLES, Principal
from service.auth.service import TokenService
from service.config import Settings
from service.errors import Conflict, Invalid, Unauthorized
from service.timeutil import iso, utcnow

_hasher = PasswordHasher()  # argon2id, the library's (OWASP-aligned) defaults
# Verified against when the username is unknown, so a wrong name costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$")
CONSOLE_ROLES = tuple(r for r in ROLES if r != "dock")  # a dock never signs in to the console
MIN_PASSWORD = 10


def _anonymous(ip: str | None) -> Principal:
    # Before sign-in nobody is authenticated: the audit names the attempt, not a person.
    return Principal(sub="anonymous", roles=frozenset(), ip=ip)


def check_roles(roles: list[str]) -> list[str]:
    unknown = sorted(set(roles) - set(CONSOLE_ROLES))
    if not roles or unknown:
        raise Invalid(f"Console roles are some of {', '.join(CONSOLE_ROLES)}; got {unknown or 'none'}.",
                      slug="invalid-roles")
    return sorted(set(roles))


async def add_user(session: AsyncSession, actor: Principal, username: str, roles: list[str],
                   password: str) -> User:
    if not USERNAME.match(username or ""):
        raise Invalid("A username is 1-200 letters, digits, '.', '_', '@' or '-', starting with a letter or digit.",
                      slug="invalid-username")
    roles = check_roles(roles)
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"A password has at least {MIN_PASSWORD} characters.", slug="weak-password")
    if await repo.get_user(session, username) is not None:
        raise Conflict(f"User {username!r} already exists.", slug="user-exists")
    user = User(username=username, roles=roles, source="local", password_hash=_hasher.hash(password),
                created_at=utcnow(), failed_logins=0)
    session.add(user)
    await audit.record(session, actor, "user.added", "user", username, {"roles": roles, "source": "local"})
    return user


@dataclass
class SignIn:
    token: str
    session: WebSession
    roles: list[str]


async def _open_session(session: AsyncSession, tokens: TokenService, settings: Settings, user: User,
                        ip: str | None, user_agent: str | None, method: str) -> SignIn:
    now = utcnow()
    sid = secrets.token_hex(24)
    ttl = settings.web_session_ttl_s
    ws = WebSession(id=sid, username=user.username, created_at=now, expires_at=now + timedelta(seconds=ttl),
                    ip=ip, user_agent=(user_agent or "")[:400] or None)
    session.add(ws)
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    token, _ = tokens.issue(user.username, list(user.roles), ttl, jti=sid, extra={"sid": sid})
    actor = Principal(sub=user.username, roles=frozenset(user.roles), jti=sid, ip=ip, user_agent=user_agent)
    await audit.record(session, actor, "auth.signed_in", "user", user.username,
                       {"method": method, "session": sid, "user_agent": user_agent})
    return SignIn(token=token, session=ws, roles=list(user.roles))


async def sign_in(session: AsyncSession, tokens: TokenService, settings: Settings, username: str,
                  password: str, ip: str | None, user_agent: str | None) -> SignIn | Unauthorized:
    """Check a local password. Failures count towards a lockout; the answer never says which part was
    wrong. A refusal is returned, not raised: its audit event and failure count must commit."""
    now = utcnow()
    user = await repo.get_user(session, username, for_update=True) if username else None
    hashed = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        ok = _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        ok = False
    if user is None or user.password_hash is None:
        await audit.record(session, _anonymous(ip), "auth.sign_in_failed", "user", username[:200] or "-",
                           {"reason": "unknown-user"})
        return _refuse()
    if user.locked_until is not None and user.locked_until > now:
        await audit.record(session, _anonymous(ip), "auth.sign_in_failed", "user", username,
                           {"reason": "locked", "locked_until": iso(user.locked_until)})
        return Unauthorized(f"This account is locked after repeated failed sign-ins until {iso(user.locked_until)}.",
                            slug="account-locked", locked_until=iso(user.locked_until))
    if user.disabled_at is not None:
        ok = False
    if not ok:
        user.failed_logins += 1
        details: dict = {"reason": "bad-password", "failures": user.failed_logins}
        if user.failed_logins >= settings.login_max_failures:
            user.locked_until = now + timedelta(seconds=settings.login_lockout_s)
            user.failed_logins = 0
            details["locked_until"] = iso(user.locked_until)
            await audit.record(session, _anonymous(ip), "auth.locked", "user", username, details)
        else:
            await audit.record(session, _anonymous(ip), "auth.sign_in_failed", "user", username, details)
        return _refuse()
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return await _open_session(session, tokens, settings, user, ip, user_agent, "password")


def _refuse() -> Unauthorized:
    return Unauthorized("The username or password is wrong.", slug="sign-in-failed")


async def sign_in_external(session: AsyncSession, tokens: TokenService, settings: Settings, username: str,
                           roles: list[str], ip: str | None, user_agent: str | None) -> SignIn:
    """A user the force's identity provider vouched for: their roles are the provider's, as of now."""
    roles = [r for r in roles if r in CONSOLE_ROLES]
    if not roles:
        raise Unauthorized("The identity provider gave this account no bodycam role.", slug="no-role")
    user = await repo.get_user(session, username, for_update=True)
    if user is None:
        user = User(username=username, roles=sorted(set(roles)), source="oidc", created_at=utcnow(), failed_logins=0)
        session.add(user)
    elif user.source != "oidc":
        raise Conflict(f"{username!r} is a local account; it cannot also sign in through the provider.",
                       slug="account-source")
    elif user.disabled_at is not None:
        raise Unauthorized("This account is disabled.", slug="account-disabled")
    user.roles = sorted(set(roles))
    return await _open_session(session, tokens, settings, user, ip, user_agent, "oidc")


async def sign_out(session: AsyncSession, actor: Principal, sid: str) -> None:
    if await repo.end_web_session(session, sid, utcnow(), "signed-out"):
        await audit.record(session, actor, "auth.signed_out", "user", actor.sub, {"session": sid})


async def list_users(session: AsyncSession) -> list[User]:
    return await repo.list_users(session)
