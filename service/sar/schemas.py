from __future__ import annotations

from datetime import date, datetime
from fractions import Fraction
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.declare import NOT_BLANK, text_item
from service.disclosure.models import BundleStatus, Share
from service.disclosure.schemas import BundleOut
from service.recordings.models import Recording
from service.recordings.schemas import ClipRange
from service.retention.schemas import HoldQuery, _not_blank
from service.sar.models import RedactionStatus, Regime, Sar, SarItem, SarStatus
from service.timeutil import Instant


class SarQuery(HoldQuery):
    """The hold's query, plus where the requester says it happened (footage has no place data to match
    against, so it is a note for the handler)."""

    location: str | None = Field(default=None, min_length=1, max_length=500)


class SarIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requester: str = Field(min_length=1, max_length=200, json_schema_extra=NOT_BLANK)
    contact: str = Field(min_length=1, max_length=300, json_schema_extra=NOT_BLANK)
    received_at: Instant
    description: str = Field(min_length=1, max_length=4000, json_schema_extra=NOT_BLANK)
    regime: Regime | None = None
    query: SarQuery

    _blank = field_validator("requester", "contact", "description")(_not_blank)


class ExtendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    months: int = Field(ge=1, le=2)
    reason: str = Field(min_length=1, max_length=2000, json_schema_extra=NOT_BLANK)
    _blank = field_validator("reason")(_not_blank)


class InfoRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    what: str = Field(min_length=1, max_length=2000, description="the identity proof or clarification asked for",
                      json_schema_extra=NOT_BLANK)
    _blank = field_validator("what")(_not_blank)


class InfoReceivedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    received_at: Instant


class ItemIn(ClipRange):
    model_config = ConfigDict(extra="forbid")

    recording_id: str = Field(min_length=1, max_length=40)


class BoxIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_s: float = Field(ge=0, allow_inf_nan=False)
    end_s: float = Field(gt=0, allow_inf_nan=False)
    x: int = Field(ge=0)
    y: int = Field(ge=0)
    w: int = Field(gt=0)
    h: int = Field(gt=0)
    follow: bool = Field(False, description="move with what the box covers (optical flow); the log says "
                                            "where it was lost")


class MuteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_s: float = Field(ge=0, allow_inf_nan=False)
    end_s: float = Field(gt=0, allow_inf_nan=False)


class RedactionIn(BaseModel):
    """Times are seconds in the recording (the same clock as the item's clip range)."""

    model_config = ConfigDict(extra="forbid")

    auto_faces: bool = True
    boxes: list[BoxIn] = Field(default_factory=list, max_length=500)
    mute: list[MuteIn] = Field(default_factory=list, max_length=500)
    keep_tracks: list[text_item(1, 40)] = Field(default_factory=list, max_length=500,  # type: ignore[valid-type]
                                   description="face tracks (GET …/faces) left visible: the requester's own; "
                                               "every other track is blurred in every frame it is in")

    @field_validator("keep_tracks")
    @classmethod
    def _track_ids(cls, v: list[str]) -> list[str]:
        if any(not 1 <= len(t) <= 40 for t in v):
            raise ValueError("a track id is 1 to 40 characters")
        return list(dict.fromkeys(v))


class FaceTrackOut(BaseModel):
    id: str
    number: int = Field(description="1.. in the order the faces appear")
    start_s: float = Field(description="seconds in the recording, margin included")
    end_s: float
    detections: int
    best_score: float
    thumbnail_url: str | None = Field(description="served through the API to SAR roles; every view is audited")


class FaceBoxOut(BaseModel):
    t: float = Field(description="seconds in the recording")
    frame: int = Field(description="frame number from the scan's start (clip_start_s)")
    x: float
    y: float
    w: float
    h: float
    score: float


class FaceBoxesOut(BaseModel):
    """Where a track's face was found, in pixels of the frame as shown (0,0 top left): what the console
    draws over the player. Between two detections the face is on the path from one box to the next."""

    track_id: str
    number: int
    start_s: float
    end_s: float
    fps: float
    boxes: list[FaceBoxOut]

    @classmethod
    def of(cls, track: Any, scan: Any) -> FaceBoxesOut:
        fps, start = float(Fraction(scan.fps)), scan.clip_start_s or 0.0
        return cls(track_id=track.id, number=track.number, start_s=track.start_s, end_s=track.end_s, fps=round(fps, 6),
                   boxes=[FaceBoxOut(t=round(start + f / fps, 4), frame=f, x=b[0], y=b[1], w=round(b[2] - b[0], 1),
                                     h=round(b[3] - b[1], 1), score=sc)
                          for f, b, sc in zip(track.frames, track.boxes, track.scores, strict=False)])


class FacesOut(BaseModel):
    item_id: str
    status: str = Field(description="none, queued, running, ready or failed")
    progress: float = 0.0
    run: str | None = None
    error: str | None = None
    detector: dict[str, Any] | None = None
    tracks: list[FaceTrackOut] = []

    @classmethod
    def of(cls, sar_id: str, item_id: str, scan: Any, tracks: list[Any]) -> FacesOut:
        if scan is None:
            return cls(item_id=item_id, status="none")
        base = f"/v1/sars/{sar_id}/items/{item_id}/faces"
        return cls(item_id=item_id, status=scan.status, progress=round(scan.progress, 3), run=scan.run,
                   error=scan.error, detector=scan.detector,
                   tracks=[FaceTrackOut(id=t.id, number=t.number, start_s=t.start_s, end_s=t.end_s,
                                        detections=len(t.frames), best_score=max(t.scores, default=0.0),
                                        thumbnail_url=f"{base}/{t.id}/thumbnail" if t.thumbnail_key else None)
                           for t in tracks])


class DiscloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_at: Instant | None = None
    max_downloads: int | None = Field(default=None, ge=1, le=1000)


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: str = Field(min_length=1, max_length=2000,
                         description="e.g. disclosed, partially disclosed, no footage held, refused (with the exemption)",
                         json_schema_extra=NOT_BLANK)
    _blank = field_validator("outcome")(_not_blank)


class RedactionOut(BaseModel):
    status: RedactionStatus
    progress: float
    run: str | None = None
    params: dict[str, Any] | None = None
    requested_by: str | None = None
    requested_at: datetime | None = None
    finished_at: datetime | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    error: str | None = None
    log: dict[str, Any] | None = None


class SarItemOut(BaseModel):
    id: str
    recording_id: str
    clip_start_s: float | None
    clip_end_s: float | None
    added_by: str
    added_at: datetime
    redaction: RedactionOut

    @classmethod
    def of(cls, i: SarItem) -> SarItemOut:
        return cls(id=i.id, recording_id=i.recording_id, clip_start_s=i.clip_start_s, clip_end_s=i.clip_end_s,
                   added_by=i.added_by, added_at=i.added_at,
                   redaction=RedactionOut(status=i.redaction_status, progress=round(i.redaction_progress, 3),
                                          run=i.redaction_run, params=i.redaction_params,
                                          requested_by=i.redaction_requested_by,
                                          requested_at=i.redaction_requested_at,
                                          finished_at=i.redaction_finished_at, sha256=i.redacted_sha256,
                                          size_bytes=i.redacted_size, error=i.redaction_error,
                                          log=i.redaction_log))


class RedactionJobOut(SarItemOut):
    """The 202 answer: the item, and the job that will redact it (poll ``GET /v1/sars/{id}``)."""

    job_id: str
    status: RedactionStatus

    @classmethod
    def of(cls, i: SarItem) -> RedactionJobOut:
        return cls(**SarItemOut.of(i).model_dump(), job_id=i.redaction_run, status=i.redaction_status)


class CandidateOut(BaseModel):
    id: str
    officer_id: str
    device_id: str
    trusted_start: datetime | None
    trusted_end: datetime | None
    recorded_start: datetime
    received_at: datetime
    time_trust: str
    duration_s: float | None

    @classmethod
    def of(cls, r: Recording) -> CandidateOut:
        return cls(id=r.id, officer_id=r.officer_id, device_id=r.device_id, trusted_start=r.trusted_start,
                   trusted_end=r.trusted_end, recorded_start=r.recorded_start, received_at=r.received_at,
                   time_trust=r.time_trust, duration_s=(r.media or {}).get("duration_s"))


class RestrictedOut(BaseModel):
    """Restricted footage in the request's window that the caller may not see: it is held all the same
    (nothing here can be deleted), but named only to the people it is opened to. This says how much
    there is and whom to ask, never which recordings or what they show."""

    count: int = Field(description="recordings the request's hold covers that are restricted away from you")
    contact: list[str] = Field(description="the people it is opened to: ask them (or the restricting "
                                           "supervisor) whether it belongs in the disclosure")


class SarOut(BaseModel):
    id: str
    regime: Regime
    requester: str
    contact: str
    description: str
    received_at: datetime
    clock_start: date
    due_date: date | None
    due_at: datetime | None
    days_left: int | None
    overdue: bool
    extended_months: int
    extension_reason: str | None
    status: SarStatus
    info_requested: str | None
    query: dict[str, Any]
    hold_id: str
    bundle_id: str | None
    share_id: str | None
    created_by: str
    created_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    outcome: str | None
    items: list[SarItemOut] = []
    item_count: int = Field(0, description="how many items the request has (lists leave `items` empty)")
    candidates: list[CandidateOut] | None = None
    restricted: RestrictedOut | None = Field(None, description="one request's answers (not lists): restricted "
                                                               "footage in its window that is not opened to you")

    @classmethod
    def of(cls, sar: Sar, items: list[SarItem] | None = None, *, days_left: int | None, overdue: bool,
           candidates: list[Recording] | None = None, item_count: int | None = None,
           restricted: tuple[int, list[str]] | None = None) -> SarOut:
        query = {"from": sar.q_from, "to": sar.q_to, "officer_id": sar.q_officer_id, "device_id": sar.q_device_id,
                 "location": sar.q_location}
        return cls(id=sar.id, regime=sar.regime, requester=sar.requester, contact=sar.contact,
                   description=sar.description, received_at=sar.received_at, clock_start=sar.clock_start,
                   due_date=sar.due_date, due_at=sar.due_at, days_left=days_left, overdue=overdue,
                   extended_months=sar.extended_months, extension_reason=sar.extension_reason, status=sar.status,
                   info_requested=sar.info_requested, query=query, hold_id=sar.hold_id, bundle_id=sar.bundle_id,
                   share_id=sar.share_id, created_by=sar.created_by, created_at=sar.created_at,
                   closed_by=sar.closed_by, closed_at=sar.closed_at, outcome=sar.outcome,
                   items=[SarItemOut.of(i) for i in items or []],
                   item_count=len(items or []) if item_count is None else item_count,
                   candidates=None if candidates is None else [CandidateOut.of(r) for r in candidates],
                   restricted=None if restricted is None else RestrictedOut(count=restricted[0],
                                                                            contact=restricted[1]))


class DiscloseOut(BaseModel):
    bundle_id: str
    share_id: str
    url: str
    status: BundleStatus
    expires_at: datetime
    max_downloads: int


class SarShareOut(BaseModel):
    share_id: str
    state: str = Field(description="active, or why a download is refused: revoked, expired, used up")
    expires_at: datetime
    max_downloads: int
    downloads: int
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, share: Share, state: str) -> SarShareOut:
        return cls(share_id=share.id, state=state, expires_at=share.expires_at, max_downloads=share.max_downloads,
                   downloads=share.downloads, created_at=share.created_at, revoked_at=share.revoked_at)


class SarDisclosureOut(BaseModel):
    """The latest disclosure of a request: how far its bundle is, and its link's standing (not the URL)."""

    sar_id: str
    bundle: BundleOut
    share: SarShareOut
