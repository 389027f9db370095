from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, JSONType, UTCDateTime


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_drift_s: Mapped[float | None] = mapped_column(Float)
    clock_status: Mapped[str] = mapped_column(String(10), nullable=False, default="ok")  # ok | fault
    fault_since: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ClockCheck(Base):
    """Every dock-time clock comparison, kept as the device's drift history."""

    __tablename__ = "clock_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    device_clock: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    drift_s: Mapped[float] = mapped_column(Float, nullable=False)
    fault: Mapped[str | None] = mapped_column(String(200))
    upload_id: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (Index("ix_clock_checks_device_at", "device_id", "at"),)


class Alert(Base):
    """Something a supervisor must look at: clock faults, unreadable media, hash failures, deadlines."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    severity: Mapped[str] = mapped_column(String(10), nullable=False, default="warning")
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
