from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, JSONType, UTCDateTime


class HoldKind(StrEnum):
    LEGAL = "legal"
    COMPLAINT = "complaint"
    SAR = "sar"  # a subject access request's hold, released when it closes
    IOPC = "iopc"
    CASE = "case"  # a CPS case's hold, released when it closes


class KeptKind(StrEnum):
    """What keeps a recording beyond the default rule, as a review names it."""

    FLAG = "flag"  # a flag into a kept category (evidence, complaint) outside any case
    HOLD = "hold"  # a legal, complaint, IOPC or SAR hold
    CASE = "case"  # a CPS case: its hold while open, its outcome's rule once decided


class ReviewStatus(StrEnum):
    PENDING = "pending"
    RETAINED = "retained"  # decided: kept, a new pending review carries the next date
    RELEASED = "released"  # decided: the protection was removed
    ENDED = "ended"  # the protection ended otherwise (unflagged, hold released, outcome recorded)


class ReviewDecision(StrEnum):
    RETAIN = "retain"
    RELEASE = "release"


class SweepStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Flag(Base):
    """A recording flagged into a retention category (evidence, complaint, training …)."""

    __tablename__ = "flags"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), nullable=False)
    category: Mapped[str] = mapped_column(String(40), nullable=False)
    reference: Mapped[str] = mapped_column(String(200), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(2000))
    clip_start_s: Mapped[float | None] = mapped_column(Float)
    clip_end_s: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str | None] = mapped_column(String(100))  # e.g. "case:CASE_ID" when a case added it
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    removed_by: Mapped[str | None] = mapped_column(String(200))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_reason: Mapped[str | None] = mapped_column(String(2000))

    __table_args__ = (Index("ix_flags_recording_active", "recording_id", "removed_at"),
                      Index("ix_flags_created_at", "created_at"))


class Hold(Base):
    """Footage that must not be deleted: by ids, or by a query that also catches footage docked later."""

    __tablename__ = "holds"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # a HoldKind
    reference: Mapped[str] = mapped_column(String(200), nullable=False)
    reason: Mapped[str] = mapped_column(String(2000), nullable=False)
    query: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    q_officer_id: Mapped[str | None] = mapped_column(String(200))
    q_device_id: Mapped[str | None] = mapped_column(String(100))
    q_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    q_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    released_by: Mapped[str | None] = mapped_column(String(200))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_reason: Mapped[str | None] = mapped_column(String(2000))

    __table_args__ = (Index("ix_holds_active_query", "released_at", "q_from", "q_to"),)


class HoldRecording(Base):
    __tablename__ = "hold_recordings"

    hold_id: Mapped[str] = mapped_column(ForeignKey("holds.id"), primary_key=True)
    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_hold_recordings_recording", "recording_id"),)


class Sweep(Base):
    """One retention sweep: what it was asked, how far it got, what it deleted (proof afterwards)."""

    __tablename__ = "retention_sweeps"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    dry_run: Mapped[bool] = mapped_column(nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(12), nullable=False)  # a SweepStatus
    due: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    deleted: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    refused: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    bytes_deleted: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(String(2000))


class PolicyVersion(Base):
    """Each distinct retention policy the service has run with; a new one triggers a recompute."""

    __tablename__ = "policy_versions"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    content: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    recomputed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Review(Base):
    """One protection of one recording coming up for review on ``review_at``: a pending row per
    (recording, kept_by) while the protection lasts; a decision closes it (retain opens the next)."""

    __tablename__ = "retention_reviews"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), nullable=False)
    kept_kind: Mapped[str] = mapped_column(String(10), nullable=False)  # a KeptKind
    kept_id: Mapped[str] = mapped_column(String(40), nullable=False)
    review_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    set_by_decision: Mapped[bool] = mapped_column(nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False)  # a ReviewStatus
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(2000))

    __table_args__ = (Index("ix_retention_reviews_status_review_at", "status", "review_at"),
                      Index("ix_retention_reviews_recording", "recording_id", "status"))
