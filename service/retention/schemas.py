from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from service.declare import NOT_BLANK, text_item
from service.recordings.schemas import ClipRange, FlagOut
from service.retention.models import Hold, HoldKind, Review, Sweep
from service.timeutil import Instant

Text = Field(min_length=1, max_length=2000)
__all__ = ["FlagOut"]  # a recording shows its flags; the flag endpoints answer with the same model


def _not_blank(v: str | None) -> str | None:
    if v is not None and not v.strip():
        raise ValueError("must not be blank")
    return v.strip() if v is not None else v


class FlagIn(ClipRange):
    model_config = ConfigDict(extra="forbid")

    category: str = Field(default="evidence", min_length=1, max_length=40)
    reference: str = Field(min_length=1, max_length=200, description="crime or incident reference",
                           json_schema_extra=NOT_BLANK)
    reason: str | None = Field(default=None, max_length=2000, json_schema_extra=NOT_BLANK)
    consent_reference: str | None = Field(default=None, max_length=200, json_schema_extra=NOT_BLANK)

    _blank = field_validator("reference", "reason", "consent_reference")(_not_blank)


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000, json_schema_extra=NOT_BLANK)
    _blank = field_validator("reason")(_not_blank)


class HoldQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    officer_id: str | None = Field(default=None, min_length=1, max_length=200)
    device_id: str | None = Field(default=None, min_length=1, max_length=100)
    from_: Instant = Field(alias="from")
    to: Instant

    @model_validator(mode="after")
    def _window(self) -> HoldQuery:
        if self.to <= self.from_:
            raise ValueError("query.to must be after query.from")
        return self


class HoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["legal", "complaint", "sar", "iopc"]
    reference: str = Field(min_length=1, max_length=200, json_schema_extra=NOT_BLANK)
    reason: str = Field(min_length=1, max_length=2000, json_schema_extra=NOT_BLANK)
    recording_ids: list[str] | None = Field(default=None, max_length=10_000)
    query: HoldQuery | None = None

    _blank = field_validator("reference", "reason")(_not_blank)

    @model_validator(mode="after")
    def _one_target(self) -> HoldIn:
        if bool(self.recording_ids) == (self.query is not None):
            raise ValueError("give either a non-empty recording_ids list or a query, not both")
        return self

    def hold_args(self) -> dict[str, Any]:
        """The arguments of ``retention.service.place_hold``."""
        query = None
        if self.query is not None:
            query = {"officer_id": self.query.officer_id, "device_id": self.query.device_id,
                     "from": self.query.from_, "to": self.query.to}
        return {"kind": HoldKind(self.kind), "reference": self.reference, "reason": self.reason,
                "recording_ids": self.recording_ids, "query": query}


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


class ReviewCounts(BaseModel):
    """Retention reviews of active footage: pending, due now, overdue (due and past the grace), decided."""

    pending: int
    due: int
    overdue: int
    decided: int


class Forecast(BaseModel):
    as_of: datetime
    count: int
    bytes: int
    items: list[DueItem]
    next_cursor: str | None = None
    reviews: ReviewCounts | None = None  # the forecast's only (what is kept and awaits a decision)


class RestrictIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    people: list[text_item(1, 200, not_blank=True, plain=True)] = Field(min_length=1, max_length=200)  # type: ignore[valid-type]
    reason: str = Field(min_length=1, max_length=2000, json_schema_extra=NOT_BLANK)
    _blank = field_validator("reason")(_not_blank)

    @field_validator("people")
    @classmethod
    def _subs(cls, v: list[str]) -> list[str]:
        if any(not p.strip() or len(p) > 200 for p in v):
            raise ValueError("each person is a non-empty id of at most 200 characters")
        # A person's id never holds a control character, and PostgreSQL text cannot store NUL (a 500 before).
        if any(ord(c) < 32 or ord(c) == 127 for p in v for c in p):
            raise ValueError("a person's id must not contain control characters (NUL, newlines)")
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


class KeptBy(BaseModel):
    kind: Literal["flag", "hold", "case"]
    id: str


class ReviewOut(BaseModel):
    id: str
    recording_id: str
    kept_by: KeptBy
    review_at: datetime
    retain_until: datetime | None
    status: Literal["pending", "retained", "released", "ended"]
    due: bool
    overdue: bool
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None

    @classmethod
    def of(cls, r: Review, *, due: bool, overdue: bool) -> ReviewOut:
        return cls(id=r.id, recording_id=r.recording_id, kept_by=KeptBy(kind=r.kept_kind, id=r.kept_id),
                   review_at=r.review_at, retain_until=r.retain_until, status=r.status, due=due, overdue=overdue,
                   decided_by=r.decided_by, decided_at=r.decided_at, reason=r.reason)


class RetainDecisionIn(BaseModel):
    """Keep the footage: the next review comes ``retain_days`` ahead."""
    model_config = ConfigDict(extra="forbid")

    decision: Literal["retain"]
    reason: str = Field(min_length=1, max_length=2000, json_schema_extra=NOT_BLANK)
    retain_days: int | None = Field(None, ge=1, le=36500, description="days to the next review "
                                    "(at most the policy's reviews.max_retain_days; default that maximum)")

    _blank = field_validator("reason")(_not_blank)


class ReleaseDecisionIn(BaseModel):
    """Remove exactly the protection under review (no retain_days: the schema says so, not only the code)."""
    model_config = ConfigDict(extra="forbid")

    decision: Literal["release"]
    reason: str = Field(min_length=1, max_length=2000, json_schema_extra=NOT_BLANK)

    _blank = field_validator("reason")(_not_blank)


ReviewDecisionIn = Annotated[RetainDecisionIn | ReleaseDecisionIn, Field(discriminator="decision")]

