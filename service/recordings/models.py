from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, JSONType, UTCDateTime


class RecordingStatus(StrEnum):
    ACTIVE = "active"
    DELETING = "deleting"  # claimed by a sweep, bytes being removed (committed before any byte goes)
    DELETED = "deleted"  # a tombstone: the bytes are gone, the row says why


class Source(StrEnum):
    """Where footage comes from (API.md "Sources"): the same hashing, retention and disclosure rules for all."""

    BWV = "bwv"  # body-worn video, docked (or imported from the legacy body-worn system)
    CCTV = "cctv"  # seized or exported CCTV, uploaded by staff
    AUDIO = "audio"  # audio only: 999 calls, interviews


class WorkingCopyStatus(StrEnum):
    """An MP4 made for browsers when the master is in a format they cannot play; the master stays the exhibit."""

    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


class MediaStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"


class StorageTier(StrEnum):
    """Where a recording's bytes are (issue 17): hot storage, or a cold class that needs a restore first."""

    HOT = "hot"
    COLD = "cold"


class RestoreStatus(StrEnum):
    """A cold recording's restore: none asked, asked (S3 takes hours), or a readable copy until restored_until."""

    NONE = "none"
    REQUESTED = "requested"
    READY = "ready"


class Recording(Base):
    """One docked video. ``delete_after`` is kept current by the retention service (NULL = kept)."""

    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(100), nullable=False)
    officer_id: Mapped[str] = mapped_column(String(200), nullable=False)
    dock_id: Mapped[str] = mapped_column(String(100), nullable=False)
    upload_id: Mapped[str] = mapped_column(String(40), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(300), nullable=False)
    # The object's only version on a versioned (Object Lock) bucket: deleting it needs no listing.
    storage_version: Mapped[str | None] = mapped_column(String(1024))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    recorded_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    recorded_end: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    device_clock_at_dock: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    drift_s: Mapped[float] = mapped_column(Float, nullable=False)
    time_trust: Mapped[str] = mapped_column(String(10), nullable=False)
    trusted_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trusted_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The capture time retention and the "trusted" time basis use: trusted_start, or received_at when
    # the camera clock is untrusted (rule 2). Stored so it can be indexed.
    basis_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    basis_end: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    media: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    media_status: Mapped[str] = mapped_column(String(10), nullable=False, default=MediaStatus.PENDING)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default=RecordingStatus.ACTIVE)
    retention_category: Mapped[str] = mapped_column(String(40), nullable=False, default="default")
    delete_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # While kept beyond the default rule (retention/kept.py keeps them current): not deleted before
    # retain_until; its protections' next review on review_at. One of the two is set while kept.
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    restricted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deletion_policy: Mapped[str | None] = mapped_column(String(200))
    deletion_reason: Mapped[str | None] = mapped_column(String(1000))
    # The cold tier (service/coldtier). ``storage_key`` is always the copy of record, in its tier's store.
    # ``other_key`` is a second copy that exists, or may (a crash), and must be deleted with it: while hot,
    # the cold copy a move is writing; while cold, the hot original not yet removed (Object Lock keeps it
    # until its retention runs out) or, on local disk, the restored copy.
    storage_tier: Mapped[str] = mapped_column(String(10), nullable=False, default=StorageTier.HOT,
                                              server_default=StorageTier.HOT)
    other_key: Mapped[str | None] = mapped_column(String(300))
    other_version: Mapped[str | None] = mapped_column(String(1024))
    restore_status: Mapped[str] = mapped_column(String(10), nullable=False, default=RestoreStatus.NONE,
                                                server_default=RestoreStatus.NONE)
    restore_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    restored_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(10), nullable=False, default=Source.BWV, server_default="bwv")
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # NULL: the master plays in browsers (or is not probed yet); see service/recordings/workingcopy.py.
    working_copy_status: Mapped[str | None] = mapped_column(String(10))
    working_copy_key: Mapped[str | None] = mapped_column(String(300))
    working_copy_sha256: Mapped[str | None] = mapped_column(String(64))
    working_copy_size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # content_type, ffmpeg version, made_at, error: what continuity and the manifest say about it.
    working_copy_info: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    __table_args__ = (
        UniqueConstraint("device_id", "sha256"),
        Index("ix_recordings_delete_after", "delete_after"),
        Index("ix_recordings_officer_basis", "officer_id", "basis_start"),
        Index("ix_recordings_device_basis", "device_id", "basis_start"),
        Index("ix_recordings_basis", "basis_start"),
        Index("ix_recordings_received", "received_at"),
        Index("ix_recordings_status", "status"),
        Index("ix_recordings_tier_basis", "storage_tier", "basis_start"),
        Index("ix_recordings_working_copy_status", "working_copy_status"),
    )


class RecordingAccess(Base):
    """Who may still see a restricted recording (besides auditors)."""

    __tablename__ = "recording_access"

    recording_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    sub: Mapped[str] = mapped_column(String(200), primary_key=True)
