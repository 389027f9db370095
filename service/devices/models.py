from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime


class ClockStatus(StrEnum):
    OK = "ok"
    FAULT = "fault"


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_drift_s: Mapped[float | None] = mapped_column(Float)
    clock_status: Mapped[str] = mapped_column(String(10), nullable=False, default=ClockStatus.OK)
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
