from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from service.declare import NOT_BLANK
from service.disclosure.models import (
    Bundle,
    BundleStatus,
    Case,
    CaseItem,
    CaseOutcome,
    CaseStatus,
    DoNotDisclose,
    Share,
    ShareReceipt,
    ShareState,
)
from service.recordings.schemas import ClipRange
from service.retention.schemas import ReasonIn  # noqa: F401  (re-exported for the endpoints)
from service.timeutil import Instant

URN_PATTERN = r"^[A-Z0-9/-]{1,32}$"


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    urn: str = Field(pattern=URN_PATTERN, description="upper-case letters, digits, '/' and '-', at most 32")
    title: str = Field(min_length=1, max_length=200, json_schema_extra=NOT_BLANK)

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
    recording_sha256: str | None = Field(None, description="the source recording's SHA-256, computed at upload")

    @classmethod
    def of(cls, i: CaseItem, recording_sha256: str | None = None) -> ItemOut:
        return cls.model_validate(i, from_attributes=True).model_copy(update={"recording_sha256": recording_sha256})


class CaseFields(BaseModel):
    """A case as every answer about it shows it."""

    id: str
    urn: str
    title: str
    status: CaseStatus
    hold_id: str
    created_by: str
    created_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    close_reason: str | None


class OutcomeIn(BaseModel):
    """A case's outcome (API.md "Retention lifecycle"); posting again corrects it."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["no_further_action", "discontinued", "acquitted", "convicted", "other"]
    decided_at: Instant
    custody_release_at: Instant | None = Field(None, description="convicted: when the person leaves custody")
    appeal_until: Instant | None = Field(None, description="an appeal or CCRC review pending until then")
    reason: str | None = Field(None, min_length=1, max_length=2000, json_schema_extra=NOT_BLANK)

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be blank")
        return v.strip() if v is not None else v

    @model_validator(mode="after")
    def _dates(self) -> OutcomeIn:
        for name in ("custody_release_at", "appeal_until"):
            d = getattr(self, name)
            if d is not None and d < self.decided_at:
                raise ValueError(f"{name} must not be before decided_at")
        if self.custody_release_at is not None and self.outcome != "convicted":
            raise ValueError("custody_release_at applies to a conviction only")
        return self


class OutcomeOut(BaseModel):
    id: str
    outcome: str
    decided_at: datetime
    custody_release_at: datetime | None
    appeal_until: datetime | None
    reason: str | None
    recorded_by: str
    recorded_at: datetime

    @classmethod
    def of(cls, o: CaseOutcome) -> OutcomeOut:
        return cls.model_validate(o, from_attributes=True)


class CaseRetentionOut(BaseModel):
    """How long the case's exhibits are kept under its outcome (all null while undecided)."""

    rule: str | None
    retain_until: datetime | None
    review_at: datetime | None


class CaseOut(CaseFields):
    items: list[ItemOut]
    outcome: OutcomeOut | None = None
    retention: CaseRetentionOut = CaseRetentionOut(rule=None, retain_until=None, review_at=None)

    @classmethod
    def of(cls, c: Case, items: list[CaseItem], hashes: dict[str, str] | None = None, *,
           outcome: CaseOutcome | None = None, retention: dict | None = None) -> CaseOut:
        hashes = hashes or {}
        return cls(id=c.id, urn=c.urn, title=c.title, status=c.status, hold_id=c.hold_id, created_by=c.created_by,
                   created_at=c.created_at, closed_by=c.closed_by, closed_at=c.closed_at,
                   close_reason=c.close_reason, items=[ItemOut.of(i, hashes.get(i.recording_id)) for i in items],
                   outcome=OutcomeOut.of(outcome) if outcome is not None else None,
                   retention=CaseRetentionOut(**(retention or {"rule": None, "retain_until": None,
                                                                "review_at": None})))


class MarkOut(BaseModel):
    recording_id: str
    reason: str
    marked_by: str
    marked_at: datetime

    @classmethod
    def of(cls, m: DoNotDisclose) -> MarkOut:
        return cls(recording_id=m.recording_id, reason=m.reason, marked_by=m.marked_by, marked_at=m.marked_at)


class BundleOut(BaseModel):
    bundle_id: str
    case_id: str | None
    sar_id: str | None = None
    status: BundleStatus
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
        progress = 1.0 if b.status == BundleStatus.READY else (b.items_done / b.items_total if b.items_total else 0.0)
        return cls(bundle_id=b.id, case_id=b.case_id, sar_id=b.sar_id, status=b.status, progress=round(progress, 3),
                   items_total=b.items_total, items_done=b.items_done, size_bytes=b.size_bytes, sha256=b.sha256,
                   error=b.error, created_at=b.created_at, finished_at=b.finished_at)


class ShareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipient: str = Field(min_length=1, max_length=200)
    expires_at: Instant
    max_downloads: int = Field(ge=1, le=1000)


class ShareOut(BaseModel):
    share_id: str
    url: str
    page_url: str | None = Field(None, description="the recipient's page: download, how to verify, receipt")
    recipient: str
    expires_at: datetime
    max_downloads: int

    @classmethod
    def of(cls, share: Share, url: str) -> ShareOut:
        page = url.replace("/v1/shared/", "/ui/shared/", 1)
        return cls(share_id=share.id, url=url, page_url=page, recipient=share.recipient, expires_at=share.expires_at,
                   max_downloads=share.max_downloads)


# --- Lists (reads the console needs) ---

class CaseSummaryOut(CaseFields):
    exhibits: int

    @classmethod
    def of(cls, c: Case, exhibits: int) -> CaseSummaryOut:
        return cls(id=c.id, urn=c.urn, title=c.title, status=c.status, hold_id=c.hold_id, created_by=c.created_by,
                   created_at=c.created_at, closed_by=c.closed_by, closed_at=c.closed_at,
                   close_reason=c.close_reason, exhibits=exhibits)




class ShareInfoOut(BaseModel):
    """A share as listed: never its URL (only the token's hash is stored)."""

    share_id: str
    bundle_id: str
    recipient: str
    expires_at: datetime
    max_downloads: int
    downloads: int
    state: ShareState
    created_by: str
    created_at: datetime
    revoked_by: str | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, s: Share, state: str) -> ShareInfoOut:
        return cls(share_id=s.id, bundle_id=s.bundle_id, recipient=s.recipient, expires_at=s.expires_at,
                   max_downloads=s.max_downloads, downloads=s.downloads, state=state, created_by=s.created_by,
                   created_at=s.created_at, revoked_by=s.revoked_by, revoked_at=s.revoked_at)


class ShareAccessOut(BaseModel):
    """One use of a share link, as audited: ``downloaded`` (counted, from byte 0), ``resumed`` (a Range
    request later in the file, not counted) or ``refused`` (``reason`` says why)."""

    at: datetime
    ip: str | None
    user_agent: str | None
    outcome: Literal["downloaded", "resumed", "refused"]
    reason: str | None
    range: list[int] | None


class ReceiptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, json_schema_extra=NOT_BLANK)
    organisation: str = Field(min_length=1, max_length=200, json_schema_extra=NOT_BLANK)

    @field_validator("name", "organisation")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()


class ReceiptOut(BaseModel):
    """A signed receipt: ``signature`` (base64, Ed25519 under ``key_id``) covers the compact key-sorted JSON of
    {bundle_id, bundle_sha256, key_id, name, organisation, received_at, receipt_id, share_id}."""

    receipt_id: str
    share_id: str
    bundle_id: str
    bundle_sha256: str
    name: str
    organisation: str
    received_at: datetime
    key_id: str
    alg: str = "Ed25519"
    signature: str

    @classmethod
    def of(cls, r: ShareReceipt) -> ReceiptOut:
        return cls(receipt_id=r.id, share_id=r.share_id, bundle_id=r.bundle_id, bundle_sha256=r.bundle_sha256,
                   name=r.name, organisation=r.organisation, received_at=r.received_at, key_id=r.key_id,
                   signature=r.signature)


class ShareDetailOut(ShareInfoOut):
    accesses: list[ShareAccessOut] = Field(description="newest first, at most 200 of them (accesses_total counts all)")
    accesses_total: int
    receipts: list[ReceiptOut] = Field(default_factory=list, description="the recipient's signed receipts, oldest first")
