from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from service.disclosure.models import Bundle, Case, CaseItem
from service.recordings.schemas import ClipRange
from service.retention.schemas import ReasonIn  # noqa: F401  (re-exported for the endpoints)

URN_PATTERN = r"^[A-Z0-9/-]{1,32}$"


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    urn: str = Field(pattern=URN_PATTERN, description="upper-case letters, digits, '/' and '-', at most 32")
    title: str = Field(min_length=1, max_length=200)

    @field_validator("title")
    @classmethod
    def _title(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()


class ItemIn(ClipRange):
    model_config = ConfigDict(extra="forbid")

    recording_id: str = Field(min_length=1, max_length=40)
    exhibit_ref: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9/._-]{0,39}$", description='e.g. "JS/1"')
    accurate: bool = False


class ItemOut(BaseModel):
    id: str
    recording_id: str
    exhibit_ref: str
    clip_start_s: float | None
    clip_end_s: float | None
    accurate: bool
    flag_id: str
    added_by: str
    added_at: datetime

    @classmethod
    def of(cls, i: CaseItem) -> ItemOut:
        return cls.model_validate(i, from_attributes=True)


class CaseOut(BaseModel):
    id: str
    urn: str
    title: str
    status: str
    hold_id: str
    created_by: str
    created_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    close_reason: str | None
    items: list[ItemOut]

    @classmethod
    def of(cls, c: Case, items: list[CaseItem]) -> CaseOut:
        return cls(id=c.id, urn=c.urn, title=c.title, status=c.status, hold_id=c.hold_id, created_by=c.created_by,
                   created_at=c.created_at, closed_by=c.closed_by, closed_at=c.closed_at,
                   close_reason=c.close_reason, items=[ItemOut.of(i) for i in items])


class MarkOut(BaseModel):
    recording_id: str
    reason: str
    marked_by: str
    marked_at: datetime


class BundleOut(BaseModel):
    bundle_id: str
    case_id: str | None
    sar_id: str | None = None
    status: str
    progress: float
    items_total: int
    items_done: int
    size_bytes: int | None
    sha256: str | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, b: Bundle) -> BundleOut:
        progress = 1.0 if b.status == "ready" else (b.items_done / b.items_total if b.items_total else 0.0)
        return cls(bundle_id=b.id, case_id=b.case_id, sar_id=b.sar_id, status=b.status, progress=round(progress, 3),
                   items_total=b.items_total, items_done=b.items_done, size_bytes=b.size_bytes, sha256=b.sha256,
                   error=b.error, created_at=b.created_at, finished_at=b.finished_at)


class ShareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipient: str = Field(min_length=1, max_length=200)
    expires_at: AwareDatetime
    max_downloads: int = Field(ge=1, le=1000)


class ShareOut(BaseModel):
    share_id: str
    url: str
    recipient: str
    expires_at: datetime
    max_downloads: int
