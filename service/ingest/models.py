from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, JSONType, UTCDateTime


class UploadStatus(StrEnum):
    """open (parts arriving) -> completed (a recording exists) or abandoned (the janitor gave up on it)."""

    OPEN = "open"
    COMPLETED = "completed"
    ABANDONED = "abandoned"


class Upload(Base):
    """A dock's upload session. Its clock assessment is made once, at creation, against the dock time."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    dock_id: Mapped[str] = mapped_column(String(100), nullable=False)
    device_id: Mapped[str] = mapped_column(String(100), nullable=False)
    officer_id: Mapped[str] = mapped_column(String(200), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    recorded_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    recorded_end: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    device_clock_at_dock: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    part_size: Mapped[int] = mapped_column(Integer, nullable=False)
    drift_s: Mapped[float] = mapped_column(nullable=False)
    clock_fault: Mapped[str | None] = mapped_column(String(200))
    time_trust: Mapped[str] = mapped_column(String(10), nullable=False)
    trusted_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trusted_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default=UploadStatus.OPEN)
    recording_id: Mapped[str | None] = mapped_column(String(40))
    # The key a complete is assembling into, written before it starts: a crash mid-compose leaves an
    # object the janitor can find and remove.
    assembling_key: Mapped[str | None] = mapped_column(String(300))
    staging_purged: Mapped[bool] = mapped_column(default=False, nullable=False)
    # S3: the multipart upload that parts of 5 MiB and more go straight into (see ingest/assembly.py).
    assembly_key: Mapped[str | None] = mapped_column(String(300))
    assembly_id: Mapped[str | None] = mapped_column(String(1024))
    source: Mapped[str] = mapped_column(String(10), nullable=False, default="bwv", server_default="bwv")
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    __table_args__ = (
        Index("ix_uploads_status_updated", "status", "updated_at"),
        Index("ix_uploads_device_sha", "device_id", "sha256"),
    )


class UploadPart(Base):
    __tablename__ = "upload_parts"

    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id"), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    version: Mapped[str] = mapped_column(String(40), nullable=False)
    key: Mapped[str] = mapped_column(String(300), nullable=False)  # staged object, or the assembly's key
    etag: Mapped[str | None] = mapped_column(String(200))  # set when the part is in the assembly
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
