from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, JSONType, UTCDateTime


class AlertKind(StrEnum):
    """What went wrong; one open alert per kind and subject counts its occurrences."""

    CLOCK_FAULT = "clock_fault"
    UNREADABLE_MEDIA = "unreadable_media"
    HASH_MISMATCH = "hash_mismatch"
    SAR_OVERDUE = "sar_overdue"
    SAR_DUE_SOON = "sar_due_soon"
    SAR_REDACTION_FAILED = "sar_redaction_failed"
    SAR_FACES_FAILED = "sar_faces_failed"
    LEGAL_HOLD_FAILED = "legal_hold_failed"
    DELETION_REFUSED = "deletion_refused"
    HELD_RECORDING_LOST = "held_recording_lost"
    BUNDLE_FAILED = "bundle_failed"
    SIGN_IN_THROTTLED = "sign_in_throttled"
    COLD_MOVE_FAILED = "cold_move_failed"
    REVIEW_DUE = "review_due"  # a retention review's date has come; the footage is kept until decided
    NOTIFICATION_FAILED = "notification_failed"


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


class Alert(Base):
    """Something a supervisor must look at: clock faults, unreadable media, hash failures, deadlines."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    severity: Mapped[str] = mapped_column(String(10), nullable=False, default=Severity.WARNING)
    subject_type: Mapped[str] = mapped_column(String(30), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(100), nullable=False)
    message: Mapped[str] = mapped_column(String(1000), nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    occurrences: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acked_by: Mapped[str | None] = mapped_column(String(200))
    ack_note: Mapped[str | None] = mapped_column(String(1000))

    __table_args__ = (Index("ix_alerts_open", "acked_at", "kind", "subject_id"),)
