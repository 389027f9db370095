"""Sign-in back-off that slows guessing without handing anyone a lock-out weapon.

Failures are counted under three keys, each with its own threshold; past it, the key is refused until a
delay that doubles with every further failure (``BWV_LOGIN_BACKOFF_BASE_S`` up to ``BWV_LOGIN_LOCKOUT_S``):

- ``pair``: one account from one address (``BWV_LOGIN_MAX_FAILURES``). This is what stops a guesser.
- ``address``: every account from one address (``BWV_LOGIN_ADDRESS_MAX_FAILURES``): password spraying.
- ``account``: one account from every address (``BWV_LOGIN_ACCOUNT_MAX_FAILURES``), the looser ceiling
  against guessing from many addresses. An address adds at most ``BWV_LOGIN_MAX_FAILURES`` to it, so
  one address alone can never throttle the account for the real person signing in from elsewhere.

A refused (throttled) attempt is not a failure: it neither counts nor extends a delay, so hammering a
throttled key gains nothing, and every delay ends. A success clears its pair and account counts; the
address count only fades (``BWV_LOGIN_FORGET_S``), so signing in to one's own account between guesses
at others does not reset it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import repository as repo
from service.auth.models import LoginThrottle
from service.config import Settings

SCOPES = ("pair", "address", "account")


def _keys(username: str, ip: str | None) -> dict[str, str]:
    address = (ip or "-")[:64]
    return {"pair": f"pair:{address}|{username}", "address": f"addr:{address}", "account": f"acct:{username}"}


@dataclass
class Attempt:
    rows: dict[str, LoginThrottle]
    now: datetime
    blocked: dict[str, datetime] = field(default_factory=dict)  # scope -> refused until

    @property
    def blocked_until(self) -> datetime | None:
        return max(self.blocked.values()) if self.blocked else None


def _threshold(settings: Settings, scope: str) -> int:
    return {"pair": settings.login_max_failures, "address": settings.login_address_max_failures,
            "account": settings.login_account_max_failures}[scope]


def delay(settings: Settings, excess: int) -> timedelta:
    """The wait after the failure that took a key ``excess`` failures past its threshold (0: the first)."""
    seconds = settings.login_backoff_base_s * 2 ** min(excess, 40)
    return timedelta(seconds=min(seconds, settings.login_lockout_s))


async def begin(session: AsyncSession, settings: Settings, username: str, ip: str | None,
                now: datetime) -> Attempt:
    """Lock this attempt's counters (forgetting stale ones) and say which keys are throttled now."""
    keys = _keys(username, ip)
    locked = await repo.lock_throttles(session, list(keys.values()))
    rows = {scope: locked[key] for scope, key in keys.items()}
    attempt = Attempt(rows=rows, now=now)
    forget = timedelta(seconds=settings.login_forget_s)
    for scope, row in rows.items():
        if row.last_failure_at is not None and now - row.last_failure_at > forget:
            row.failures, row.last_failure_at, row.blocked_until = 0, None, None
        if row.blocked_until is not None and row.blocked_until > now:
            attempt.blocked[scope] = row.blocked_until
    return attempt


def fail(settings: Settings, attempt: Attempt) -> list[str]:
    """Count a failed (not throttled) attempt; returns the scopes it has just throttled for the first
    time in this run of failures, which is when someone should be told."""
    pair = attempt.rows["pair"]
    counted = ["pair", "address"] + (["account"] if pair.failures < settings.login_max_failures else [])
    engaged = []
    for scope in counted:
        row, limit = attempt.rows[scope], _threshold(settings, scope)
        row.failures += 1
        row.last_failure_at = attempt.now
        if row.failures >= limit:
            row.blocked_until = attempt.now + delay(settings, row.failures - limit)
            if row.failures == limit:
                engaged.append(scope)
    return engaged


async def succeed(session: AsyncSession, attempt: Attempt) -> None:
    attempt.rows["pair"].failures = attempt.rows["account"].failures = 0
    await tidy(session, attempt)


async def tidy(session: AsyncSession, attempt: Attempt) -> None:
    """Drop rows without failures (most were created only to lock), so the table holds failures, not
    every sign-in."""
    for row in attempt.rows.values():
        if row.failures == 0:
            await session.delete(row)
