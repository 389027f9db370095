from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, JSONType, UTCDateTime


class Dock(Base):
    """A registered docking station. Only the newest token (``token_jti``) of an active dock is accepted."""

    __tablename__ = "docks"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    site: Mapped[str | None] = mapped_column(String(200))
    token_jti: Mapped[str] = mapped_column(String(64), nullable=False)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class User(Base):
    """A console account. Local accounts carry an argon2id hash; accounts from the force's identity
    provider (``source='oidc'``) have none and take their roles from the provider at each sign-in."""

    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(200), primary_key=True)
    roles: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    source: Mapped[str] = mapped_column(String(10), nullable=False, default="local")  # local | oidc
    password_hash: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))  # notifications (bwv user add --email, OIDC claim)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """One signed-in browser. The session cookie's JWT names it (claim ``sid``); signing out ends it,
    so that cookie (or its JWT used as a bearer token) is refused afterwards."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_reason: Mapped[str | None] = mapped_column(String(40))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(400))

    __table_args__ = (Index("ix_web_sessions_username", "username"),)


class TokenRevocation(Base):
    """``bwv token revoke``: one token (``kind='jti'``), or every token of a person issued at or before
    ``revoked_at`` (``kind='sub'``). Every API process reads this table on every request, so a revocation
    holds on all replicas from the moment it commits."""

    __tablename__ = "token_revocations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(3), nullable=False)  # jti | sub
    value: Mapped[str] = mapped_column(String(200), nullable=False)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_by: Mapped[str] = mapped_column(String(200), nullable=False)

    __table_args__ = (Index("ix_token_revocations_kind_value", "kind", "value"),)


class LoginThrottle(Base):
    """Failed sign-ins counted under one key: ``pair:<address>|<account>``, ``addr:<address>`` or
    ``acct:<account>``. Past its threshold a key is refused until ``blocked_until`` (a growing delay)."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
