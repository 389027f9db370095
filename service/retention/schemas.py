from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from service.recordings.schemas import ClipRange
from service.retention.models import Flag, Hold, Sweep

Text = Field(min_length=1, max_length=2000)


def _not_blank(v: str | None) -> str | None:
    if v is not None and not v.strip():
        raise ValueError("must not be blank")
    return v.strip() if v is not None else v


class FlagIn(ClipRange):
    model_config = ConfigDict(extra="forbid")

    category: str = Field(default="evidence", min_length=1, max_length=40)
    reference: str = Field(min_length=1, max_length=200, description="crime or incident reference")
    reason: str | None = Field(default=None, max_length=2000)
    consent_reference: str | None = Field(default=None, max_length=200)

    _blank = field_validator("reference", "reason", "consent_reference")(_not_blank)


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)
    _blank = field_validator("reason")(_not_blank)


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


class HoldQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    officer_id: str | None = Field(default=None, min_length=1, max_length=200)
    device_id: str | None = Field(default=None, min_length=1, max_length=100)
    from_: AwareDatetime = Field(alias="from")
    to: AwareDatetime

    @model_validator(mode="after")
    def _window(self) -> HoldQuery:
        if self.to <= self.from_:
            raise ValueError("query.to must be after query.from")
        return self


class HoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["legal", "complaint", "sar", "iopc"]
    reference: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)
    recording_ids: list[str] | None = Field(default=None, max_length=10_000)
    query: HoldQuery | None = None

    _blank = field_validator("reference", "reason")(_not_blank)

    @model_validator(mode="after")
    def _one_target(self) -> HoldIn:
        if bool(self.recording_ids) == (self.query is not None):
            raise ValueError("give either a non-empty recording_ids list or a query, not both")
        return self


class HoldOut(BaseModel):
    id: str
    kind: str
    reference: str
    reason: str
    recording_ids: list[str] | None = None
    query: dict[str, Any] | None
    recordings: int
    created_by: str
    created_at: datetime
    active: bool
    released_by: str | None
    released_at: datetime | None
    released_reason: str | None

    @classmethod
    def of(cls, h: Hold, recording_ids: list[str]) -> HoldOut:
        return cls(id=h.id, kind=h.kind, reference=h.reference, reason=h.reason, query=h.query,
                   recording_ids=recording_ids, recordings=len(recording_ids), created_by=h.created_by,
                   created_at=h.created_at, active=h.released_at is None, released_by=h.released_by,
                   released_at=h.released_at, released_reason=h.released_reason)


class DueItem(BaseModel):
    id: str
    delete_after: datetime
    officer_id: str
    device_id: str
    filename: str
    trusted_start: datetime | None
    size_bytes: int


class Forecast(BaseModel):
    as_of: datetime
    count: int
    bytes: int
    items: list[DueItem]
    next_cursor: str | None = None


class RestrictIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    people: list[str] = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)
    _blank = field_validator("reason")(_not_blank)

    @field_validator("people")
    @classmethod
    def _subs(cls, v: list[str]) -> list[str]:
        if any(not p.strip() or len(p) > 200 for p in v):
            raise ValueError("each person is a non-empty id of at most 200 characters")
        return sorted(set(v))


class SweepOut(BaseModel):
    id: str
    actor: str
    as_of: datetime
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None
    status: str
    due: int
    deleted: int
    refused: int
    bytes_deleted: int
    error: str | None

    @classmethod
    def of(cls, s: Sweep) -> SweepOut:
        return cls.model_validate(s, from_attributes=True)
