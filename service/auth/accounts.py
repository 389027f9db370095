"""Console accounts and browser sessions: argon2id passwords, back-off, sessions that sign-out ends.

A browser session is a row in ``web_sessions`` plus a JWT (issued by the same TokenService as every
other token) whose ``sid`` claim names the row. The JWT alone is not enough: a session that was
signed out, expired or whose account was disabled is refused wherever its token turns up.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from service.alerts.models import AlertKind
from service.alerts.service import raise_alert
from service.audit import service as audit
from service.auth import repository as repo
from service.auth import throttle
from service.auth.models import User, WebSession
from service.auth.schemas import ROLES, Principal, reserved_id
from service.auth.service import TokenService
from service.config import Settings
from service.errors import Conflict, Invalid, Unauthorized
from service.timeutil import iso, utcnow

_hasher = PasswordHasher()  # argon2id, the library's (OWASP-aligned) defaults


@cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so a wrong name costs the same time as a wrong
    password. Made on first use, not at import: one argon2 hash costs 64 MiB and a second of CPU, which
    every API and worker process paid at start-up for nothing."""
    return _hasher.hash(secrets.token_hex(16))


USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$")
CONSOLE_ROLES = tuple(r for r in ROLES if r != "dock")  # a dock never signs in to the console
MIN_PASSWORD = 10
# One answer for every failed sign-in, throttled or not: it must not tell a guesser which it was.
REFUSED = "The username or password is wrong, or sign-in is paused after repeated failures; try again later."


def _anonymous(ip: str | None) -> Principal:
    # Before sign-in nobody is authenticated: the audit names the attempt, not a person.
    return Principal(sub="anonymous", roles=frozenset(), ip=ip)


def check_roles(roles: list[str]) -> list[str]:
    unknown = sorted(set(roles) - set(CONSOLE_ROLES))
    if not roles or unknown:
        raise Invalid(f"Console roles are some of {', '.join(CONSOLE_ROLES)}; got {unknown or 'none'}.",
                      slug="invalid-roles")
    return sorted(set(roles))


EMAIL = re.compile(r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


def check_email(email: str | None) -> str | None:
    """A plain address (no display name, no list): notifications go to exactly one mailbox."""
    if email is None:
        return None
    email = email.strip()
    if not EMAIL.match(email):
        raise Invalid(f"{email!r} is not an e-mail address like name@force.police.uk.", slug="invalid-email")
    return email


async def add_user(session: AsyncSession, actor: Principal, username: str, roles: list[str],
                   password: str, *, email: str | None = None) -> User:
    if not USERNAME.match(username or "") or reserved_id(username):
        raise Invalid("A username is 1-200 letters, digits, '.', '_', '@' or '-', starting with a letter or digit.",
                      slug="invalid-username")
    roles = check_roles(roles)
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"A password has at least {MIN_PASSWORD} characters.", slug="weak-password")
    if await repo.get_user(session, username) is not None:
        raise Conflict(f"User {username!r} already exists.", slug="user-exists")
    email = check_email(email)
    user = User(username=username, roles=roles, source="local", password_hash=_hasher.hash(password),
                created_at=utcnow(), email=email)
    session.add(user)
    await audit.record(session, actor, "user.added", "user", username,
                       {"roles": roles, "source": "local", "email": email})
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
    user.last_login_at = now
    token, _ = tokens.issue(user.username, list(user.roles), ttl, jti=sid, extra={"sid": sid})
    actor = Principal(sub=user.username, roles=frozenset(user.roles), jti=sid, ip=ip, user_agent=user_agent)
    await audit.record(session, actor, "auth.signed_in", "user", user.username,
                       {"method": method, "session": sid, "user_agent": user_agent})
    return SignIn(token=token, session=ws, roles=list(user.roles))


async def sign_in(session: AsyncSession, tokens: TokenService, settings: Settings, username: str,
                  password: str, ip: str | None, user_agent: str | None, *,
                  now: datetime | None = None) -> SignIn | Unauthorized:
    """Check a local password. Every failure (unknown name, wrong password, disabled, throttled) gets the
    same answer after the same work (one argon2 verification); only the audit and the supervisors' alerts
    say which it was. A refusal is returned, not raised: its audit event and counts must commit."""
    now = now or utcnow()
    lookup = username if len(username) <= 200 else ""  # never a prefix that happens to name someone
    username = username[:200]
    attempt = await throttle.begin(session, settings, username, ip, now)
    user = await repo.get_user(session, lookup, for_update=True) if lookup else None
    hashed = user.password_hash if user is not None and user.password_hash else _dummy_hash()
    try:
        ok = _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        ok = False
    anonymous, subject = _anonymous(ip), username[:100] or "-"  # the audit's object_id holds 100
    if attempt.blocked:
        await audit.record(session, anonymous, "auth.sign_in_failed", "user", subject,
                           {"reason": "throttled", "scopes": sorted(attempt.blocked),
                            "until": iso(attempt.blocked_until)})
        await throttle.tidy(session, attempt)
        return _refuse()
    if user is None or user.password_hash is None:
        reason = "unknown-user"
    elif user.disabled_at is not None:
        reason = "disabled"
    elif not ok:
        reason = "bad-password"
    else:
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        await throttle.succeed(session, attempt)
        return await _open_session(session, tokens, settings, user, ip, user_agent, "password")
    engaged = throttle.fail(settings, attempt)
    details: dict = {"reason": reason, "failures": attempt.rows["pair"].failures}
    if engaged:
        details.update(scopes=engaged, until=iso(max(attempt.rows[s].blocked_until for s in engaged)))
        await _alert(session, username if user is not None else None, ip, engaged, details)
    await audit.record(session, anonymous, "auth.throttled" if engaged else "auth.sign_in_failed", "user",
                       subject, details)
    await throttle.tidy(session, attempt)
    return _refuse()


async def _alert(session: AsyncSession, username: str | None, ip: str | None, engaged: list[str],
                 details: dict) -> None:
    """Tell supervisors (never the person at the form): once per account or address while the alert is
    open, counting later bursts as occurrences. Unknown names raise no alert of their own: the address
    alert covers someone trying many names."""
    when = {"until": details["until"], "address": ip}
    if username is not None and {"pair", "account"} & set(engaged):
        await raise_alert(session, AlertKind.SIGN_IN_THROTTLED, "user", username[:100],
                          f"Repeated failed sign-ins for {username}; further attempts are being slowed down.",
                          {**when, "scopes": [s for s in engaged if s != "address"]})
    if "address" in engaged:
        await raise_alert(session, AlertKind.SIGN_IN_THROTTLED, "address", (ip or "-")[:100],
                          f"Repeated failed sign-ins from {ip or 'an unknown address'} across accounts; "
                          "further attempts from there are being slowed down.", when)


def _refuse() -> Unauthorized:
    return Unauthorized(REFUSED, slug="sign-in-failed")


async def sign_in_external(session: AsyncSession, tokens: TokenService, settings: Settings, person_id: str,
                           roles: list[str], ip: str | None, user_agent: str | None,
                           email: str | None = None) -> SignIn | Unauthorized:
    """A person the force's identity provider vouched for, known by the provider's stable id claim; their
    roles are the provider's, as of now. A refusal is returned (and audited), not raised."""
    reason, problem = None, None
    user = None
    if not person_id or len(person_id) > 200 or not person_id.isprintable() or person_id != person_id.strip():
        reason = "invalid-id"
        problem = Unauthorized("The identity provider gave no usable id for this person.", slug="oidc-identity")
    elif reserved_id(person_id):
        reason = "reserved-id"
        problem = Unauthorized(f"The id {person_id!r} is reserved for bodycam itself; ask the administrator.",
                               slug="oidc-identity")
    else:
        user = await repo.get_user(session, person_id, for_update=True)
        roles = sorted({r for r in roles if r in CONSOLE_ROLES})
        if user is not None and user.source != "oidc":
            reason = "local-account"
            problem = Conflict(f"{person_id!r} is a local account; the identity provider cannot sign in as it.",
                               slug="account-source")
        elif not roles:
            reason = "no-role"
            problem = Unauthorized("The identity provider gave this account no bodycam role.", slug="no-role")
        elif user is not None and user.disabled_at is not None:
            reason = "disabled"
            problem = Unauthorized("This account is disabled.", slug="account-disabled")
    if problem is not None:
        await audit.record(session, _anonymous(ip), "auth.sign_in_failed", "user", person_id[:100] or "-",
                           {"method": "oidc", "reason": reason, "id": person_id[:200]})
        return problem
    if user is None:
        user = User(username=person_id, roles=roles, source="oidc", created_at=utcnow())
        session.add(user)
    user.roles = roles
    if email is not None:  # the provider's `email` claim, as of this sign-in (ignored when not an address)
        try:
            user.email = check_email(email)
        except Invalid:
            pass
    return await _open_session(session, tokens, settings, user, ip, user_agent, "oidc")


async def sign_out(session: AsyncSession, actor: Principal, sid: str) -> None:
    if await repo.end_web_session(session, sid, utcnow(), "signed-out"):
        await audit.record(session, actor, "auth.signed_out", "user", actor.sub, {"session": sid})


async def list_users(session: AsyncSession) -> list[User]:
    return await repo.list_users(session)
