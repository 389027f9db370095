from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class BundleStatus(StrEnum):
    """A bundle's build: queued -> building -> ready, or back to queued (retried), or failed; or waiting
    (some sources are in cold storage: their restore was asked for, and it is queued again once they are back)."""

    QUEUED = "queued"
    WAITING = "waiting"
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"


FINISHED = (BundleStatus.READY, BundleStatus.FAILED)


class ShareState(StrEnum):
    """What a new download from a link would meet: active, or why it is dead."""

    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"
    USED_UP = "used up"


class Case(Base):
    """A CPS case: its exhibits are flagged as evidence and held while it is open."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    urn: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default=CaseStatus.OPEN)
    hold_id: Mapped[str] = mapped_column(ForeignKey("holds.id"), nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    closed_by: Mapped[str | None] = mapped_column(String(200))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    close_reason: Mapped[str | None] = mapped_column(String(2000))


class Outcome(StrEnum):
    NO_FURTHER_ACTION = "no_further_action"
    DISCONTINUED = "discontinued"
    ACQUITTED = "acquitted"
    CONVICTED = "convicted"
    OTHER = "other"


class CaseOutcome(Base):
    """A case's recorded outcome; a correction (a late appeal, an abandoned one) adds a row and
    supersedes the last, so the history stays. ``retain_until``/``review_at`` are computed from the
    retention policy's ``case_outcomes`` when recorded (and again when the policy changes)."""

    __tablename__ = "case_outcomes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), nullable=False)
    outcome: Mapped[str] = mapped_column(String(20), nullable=False)  # an Outcome
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    custody_release_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    appeal_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(2000))
    recorded_by: Mapped[str] = mapped_column(String(200), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_case_outcomes_case", "case_id", "superseded_at"),)


class CaseItem(Base):
    __tablename__ = "case_items"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), nullable=False)
    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), nullable=False)
    exhibit_ref: Mapped[str] = mapped_column(String(40), nullable=False)
    clip_start_s: Mapped[float | None] = mapped_column(Float)
    clip_end_s: Mapped[float | None] = mapped_column(Float)
    accurate: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    flag_id: Mapped[str] = mapped_column(ForeignKey("flags.id"), nullable=False)
    added_by: Mapped[str] = mapped_column(String(200), nullable=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("case_id", "exhibit_ref"), Index("ix_case_items_recording", "recording_id"))


class DoNotDisclose(Base):
    """A supervisor's mark (e.g. it reveals a covert source): no bundle, share or SAR disclosure."""

    __tablename__ = "do_not_disclose"

    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(2000), nullable=False)
    marked_by: Mapped[str] = mapped_column(String(200), nullable=False)
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Bundle(Base):
    """A ZIP built by a job: a CPS case's exhibits, or a subject access request's redacted copies.
    Exactly one of ``case_id`` and ``sar_id`` is set. Only a ``ready`` bundle is ever served."""

    __tablename__ = "bundles"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    case_id: Mapped[str | None] = mapped_column(ForeignKey("cases.id"))
    sar_id: Mapped[str | None] = mapped_column(ForeignKey("sars.id"))
    status: Mapped[str] = mapped_column(String(10), nullable=False)  # a BundleStatus
    items_total: Mapped[int] = mapped_column(nullable=False, default=0)
    items_done: Mapped[int] = mapped_column(nullable=False, default=0)
    attempts: Mapped[int] = mapped_column(nullable=False, default=0)
    storage_key: Mapped[str | None] = mapped_column(String(300))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(2000))
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Share(Base):
    """An expiring link to a ready bundle. Only the SHA-256 of its token is stored."""

    __tablename__ = "shares"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    bundle_id: Mapped[str] = mapped_column(ForeignKey("bundles.id"), nullable=False)
    token_sha256: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    recipient: Mapped[str] = mapped_column(String(200), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    max_downloads: Mapped[int] = mapped_column(nullable=False)
    downloads: Mapped[int] = mapped_column(nullable=False, default=0)
    # Bytes granted to requests so far (reserved before a response streams, the unsent part given back
    # after it ends): never more than max_downloads x the bundle's size.
    bytes_served: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ShareReceipt(Base):
    """A recipient's acknowledgement that a bundle arrived, signed by the force: it closes continuity from
    the force's side (who received which bytes, when)."""

    __tablename__ = "share_receipts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    share_id: Mapped[str] = mapped_column(ForeignKey("shares.id"), nullable=False, index=True)
    bundle_id: Mapped[str] = mapped_column(ForeignKey("bundles.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    organisation: Mapped[str] = mapped_column(String(200), nullable=False)
    bundle_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    signature: Mapped[str] = mapped_column(String(128), nullable=False)
