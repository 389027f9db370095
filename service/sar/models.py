from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, JSONType, UTCDateTime


class SarStatus(StrEnum):
    OPEN = "open"
    AWAITING_INFORMATION = "awaiting_information"  # the month stops until identity/clarification arrives
    CLOSED = "closed"


class SarSort(StrEnum):
    """The order of ``GET /v1/sars``: by id (the order requests were logged) or earliest due first."""

    ID = "id"
    DUE = "due"  # a stopped clock (no due date) last, by id


class Regime(StrEnum):
    LAW_ENFORCEMENT = "law_enforcement"  # DPA 2018 Part 3: never extended
    UK_GDPR = "uk_gdpr"


class RedactionStatus(StrEnum):
    """An item's redacted copy: none asked for yet, or queued -> running -> ready | failed."""

    NONE = "none"
    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"


class FaceScanStatus(StrEnum):
    """An item's face scan: queued -> running -> ready | failed (no row until one is asked for)."""

    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"


class Sar(Base):
    """A subject access request. ``requester``, ``contact`` and ``description`` are the requester's
    personal data: they are shown to SAR handlers and auditors only, never logged, audited or counted."""

    __tablename__ = "sars"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    regime: Mapped[str] = mapped_column(String(20), nullable=False)  # a Regime
    requester: Mapped[str] = mapped_column(String(200), nullable=False)
    contact: Mapped[str] = mapped_column(String(300), nullable=False)
    description: Mapped[str] = mapped_column(String(4000), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # The day the calendar month counts from: receipt, or the day asked-for identity/clarification arrived.
    clock_start: Mapped[date] = mapped_column(Date, nullable=False)
    due_date: Mapped[date | None] = mapped_column(Date)  # None while waiting for identity/clarification
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extended_months: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    extension_reason: Mapped[str | None] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(24), nullable=False)  # a SarStatus
    info_requested: Mapped[str | None] = mapped_column(String(2000))
    q_from: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    q_to: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    q_officer_id: Mapped[str | None] = mapped_column(String(200))
    q_device_id: Mapped[str | None] = mapped_column(String(100))
    q_location: Mapped[str | None] = mapped_column(String(500))
    hold_id: Mapped[str] = mapped_column(ForeignKey("holds.id"), nullable=False)
    bundle_id: Mapped[str | None] = mapped_column(String(40))
    share_id: Mapped[str | None] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    closed_by: Mapped[str | None] = mapped_column(String(200))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(2000))

    __table_args__ = (Index("ix_sars_status_due", "status", "due_at"), Index("ix_sars_received_at", "received_at"),
                      Index("ix_sars_due", "due_at", "id"))


# The handlers' queue (sort=due): the requests not closed, in due order (repository.not_closed matches it).
Index("ix_sars_active_due", Sar.due_at, Sar.id, postgresql_where=Sar.status != SarStatus.CLOSED.value,
      sqlite_where=Sar.status != SarStatus.CLOSED.value)


class SarItem(Base):
    """A recording (or part of one) chosen for a SAR, and the state of its redacted copy."""

    __tablename__ = "sar_items"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    sar_id: Mapped[str] = mapped_column(ForeignKey("sars.id"), nullable=False)
    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), nullable=False)
    clip_start_s: Mapped[float | None] = mapped_column(Float)
    clip_end_s: Mapped[float | None] = mapped_column(Float)
    added_by: Mapped[str] = mapped_column(String(200), nullable=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Redaction: none | queued | running | ready | failed. A new request replaces the previous result.
    redaction_status: Mapped[str] = mapped_column(String(10), nullable=False, default=RedactionStatus.NONE)
    redaction_run: Mapped[str | None] = mapped_column(String(40))
    redaction_params: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    redaction_progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    redaction_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    redaction_requested_by: Mapped[str | None] = mapped_column(String(200))
    redaction_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    redaction_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    redaction_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    redaction_error: Mapped[str | None] = mapped_column(String(2000))
    redacted_key: Mapped[str | None] = mapped_column(String(300))
    redacted_size: Mapped[int | None] = mapped_column(BigInteger)
    redacted_sha256: Mapped[str | None] = mapped_column(String(64))
    redacted_crc32: Mapped[int | None] = mapped_column(BigInteger)
    redaction_log: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    __table_args__ = (Index("ix_sar_items_sar", "sar_id"), Index("ix_sar_items_redaction", "redaction_status"))


class SarFaceScan(Base):
    """The faces found in an item (issue 18): one scan per item; asking again replaces it (a new run),
    and a redaction plan's ``keep_tracks`` must name tracks of the item's current, finished scan."""

    __tablename__ = "sar_face_scans"

    item_id: Mapped[str] = mapped_column(ForeignKey("sar_items.id"), primary_key=True)
    sar_id: Mapped[str] = mapped_column(ForeignKey("sars.id"), nullable=False)
    run: Mapped[str] = mapped_column(String(40), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False)  # a FaceScanStatus
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(String(2000))
    requested_by: Mapped[str] = mapped_column(String(200), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the tracks' frame numbers mean: frame 0 is clip_start_s, fps frames a second.
    clip_start_s: Mapped[float | None] = mapped_column(Float)
    fps: Mapped[str | None] = mapped_column(String(20))
    frames: Mapped[int | None] = mapped_column(Integer)
    margin_frames: Mapped[int | None] = mapped_column(Integer)
    detector: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    __table_args__ = (Index("ix_sar_face_scans_status", "status"),)


class SarFaceTrack(Base):
    """One face's track in a scan: where it was found (frame numbers and boxes in source pixels) and a
    thumbnail kept in object storage."""

    __tablename__ = "sar_face_tracks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("sar_items.id"), nullable=False)
    run: Mapped[str] = mapped_column(String(40), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)  # 1.. in the order faces appear
    start_s: Mapped[float] = mapped_column(Float, nullable=False)
    end_s: Mapped[float] = mapped_column(Float, nullable=False)
    frames: Mapped[list[int]] = mapped_column(JSONType, nullable=False)
    boxes: Mapped[list[list[float]]] = mapped_column(JSONType, nullable=False)
    scores: Mapped[list[float]] = mapped_column(JSONType, nullable=False)
    thumbnail_key: Mapped[str | None] = mapped_column(String(300))

    __table_args__ = (Index("ix_sar_face_tracks_item_run", "item_id", "run"),)
