from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator

from service.recordings.models import Recording, RecordingStatus, RestoreStatus, StorageTier
from service.retention.models import Flag, Hold


class ClipRange(BaseModel):
    """An optional part of a recording, in seconds from its start (flags, exhibits, SAR items)."""

    clip_start_s: float | None = Field(default=None, ge=0, strict=True)  # strict: false is not 0.0 s
    clip_end_s: float | None = Field(default=None, gt=0, strict=True)

    @model_validator(mode="after")
    def _range(self):
        if (self.clip_start_s is None) != (self.clip_end_s is None):
            raise ValueError("give both clip_start_s and clip_end_s, or neither")
        if self.clip_start_s is not None and self.clip_end_s <= self.clip_start_s:
            raise ValueError("clip_end_s must be after clip_start_s")
        return self


class MediaOut(BaseModel):
    readable: bool | None = None
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    rotation: int | None = None


class FlagOut(BaseModel):
    id: str
    recording_id: str
    category: str
    reference: str
    reason: str | None
    clip_start_s: float | None
    clip_end_s: float | None
    created_by: str
    created_at: datetime
    active: bool
    removed_by: str | None = None
    removed_at: datetime | None = None
    removed_reason: str | None = None

    @classmethod
    def of(cls, f: Flag) -> FlagOut:
        return cls(id=f.id, recording_id=f.recording_id, category=f.category, reference=f.reference,
                   reason=f.reason, clip_start_s=f.clip_start_s, clip_end_s=f.clip_end_s,
                   created_by=f.created_by, created_at=f.created_at, active=f.removed_at is None,
                   removed_by=f.removed_by, removed_at=f.removed_at, removed_reason=f.removed_reason)


class HoldRef(BaseModel):
    """An active hold on a recording, as the recording shows it (the hold itself: GET /v1/holds/{id})."""

    id: str
    kind: str
    reference: str
    created_at: datetime

    @classmethod
    def of(cls, h: Hold) -> HoldRef:
        return cls(id=h.id, kind=h.kind, reference=h.reference, created_at=h.created_at)


class KeptByRef(BaseModel):
    """A protection keeping a recording beyond the default rule, with its pending review."""

    kind: str  # flag | hold | case
    id: str
    review_at: datetime
    retain_until: datetime | None = None
    review_id: str


class RetentionOut(BaseModel):
    category: str
    delete_after: datetime | None
    holds: list[HoldRef] = []
    flags: list[FlagOut] = []
    retain_until: datetime | None = Field(None, description="not deleted before (a decided case's rule)")
    review_at: datetime | None = Field(None, description="the next review of what keeps it")
    kept_by: list[KeptByRef] = []


class StorageOut(BaseModel):
    """Where the bytes are (issue 17): cold footage must be restored before media, clips or bundles read it."""

    tier: StorageTier
    restore: RestoreStatus
    restore_requested_at: datetime | None = None
    restored_until: datetime | None = None

    @classmethod
    def of(cls, r: Recording) -> StorageOut:
        return cls(tier=r.storage_tier or StorageTier.HOT, restore=r.restore_status or RestoreStatus.NONE,
                   restore_requested_at=r.restore_requested_at, restored_until=r.restored_until)


class WorkingCopyOut(BaseModel):
    """The MP4 made for browsers when they cannot play the master (which stays byte-exact, the exhibit)."""

    status: str
    sha256: str | None = None
    size_bytes: int | None = None
    content_type: str | None = None


class RecordingOut(BaseModel):
    id: str
    device_id: str
    officer_id: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    received_at: datetime
    recorded_start: datetime
    recorded_end: datetime
    trusted_start: datetime | None
    trusted_end: datetime | None
    time_trust: str
    drift_s: float
    media: MediaOut
    media_status: str
    status: str
    retention: RetentionOut
    restricted: bool
    storage: StorageOut
    source: str = "bwv"
    provenance: dict[str, Any] | None = None
    working_copy: WorkingCopyOut | None = None

    @classmethod
    def of(cls, r: Recording, *, holds: list[HoldRef] | None = None,
           flags: list[FlagOut] | None = None, kept_by: list[KeptByRef] | None = None) -> RecordingOut:
        return cls(id=r.id, device_id=r.device_id, officer_id=r.officer_id, filename=r.filename,
                   content_type=r.content_type, size_bytes=r.size_bytes, sha256=r.sha256,
                   received_at=r.received_at, recorded_start=r.recorded_start, recorded_end=r.recorded_end,
                   trusted_start=r.trusted_start, trusted_end=r.trusted_end, time_trust=r.time_trust,
                   drift_s=r.drift_s, media=MediaOut(**(r.media or {})), media_status=r.media_status,
                   status=RecordingStatus.DELETED if r.status == RecordingStatus.DELETED else RecordingStatus.ACTIVE,
                   retention=RetentionOut(category=r.retention_category, delete_after=r.delete_after,
                                          holds=holds or [], flags=flags or [], retain_until=r.retain_until,
                                          review_at=r.review_at, kept_by=kept_by or []),
                   restricted=r.restricted, storage=StorageOut.of(r),
                   source=r.source or "bwv", provenance=r.provenance,
                   working_copy=WorkingCopyOut(
                       status=r.working_copy_status, sha256=r.working_copy_sha256,
                       size_bytes=r.working_copy_size_bytes,
                       content_type=(r.working_copy_info or {}).get("content_type"))
                   if r.working_copy_status else None)


class CreatedRecordingOut(RecordingOut):
    recording_id: str
    duplicate: bool = False


class DoNotDiscloseMark(BaseModel):
    """The disclosure domain's mark, as a recording's access read shows it (its own MarkOut cannot be
    imported here: disclosure's schemas import this module)."""

    reason: str
    marked_by: str
    marked_at: datetime


class AccessOut(BaseModel):
    """Who may see a recording and whether it may be disclosed: what a supervisor needs before
    restricting, lifting, or marking it."""

    recording_id: str
    restricted: bool
    people: list[str]
    do_not_disclose: DoNotDiscloseMark | None
