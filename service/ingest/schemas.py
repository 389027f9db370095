from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from service.recordings.models import Source
from service.timeutil import Instant

_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$"
# Only footage is docked: a bare video/* or audio/* type (no parameters, no second value), short
# enough for the 100-character column. Anything else is 415, checked by ingest.service.
_MEDIA_TYPE = re.compile(r"^(?:video|audio)/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$")


def is_media_type(value: str) -> bool:
    return bool(_MEDIA_TYPE.fullmatch(value))


def _filename(v: str) -> str:
    """A plain file name: no path, no control characters. It is shown to people, never used as a path."""
    if not v or len(v) > 255:
        raise ValueError("must be 1-255 characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in v):
        raise ValueError("must not contain control characters (NUL, newlines)")
    if "/" in v or "\\" in v or v in (".", "..") or ".." in v.split("."):
        raise ValueError("must be a plain file name without a path or '..'")
    return v


Filename = Annotated[str, Field(max_length=255, json_schema_extra={
    "minLength": 1, "pattern": r"^(?!\.\.?$)[^\x00-\x1f\x7f/\\]+$"}), AfterValidator(_filename)]


def _plain_text(v: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL, and a control character in a provenance shown in court is an attack.
    if v is not None and any(ord(c) < 32 or ord(c) == 127 for c in v):
        raise ValueError("must not contain control characters (NUL, newlines)")
    return v


ProvenanceText = Annotated[str | None, Field(default=None, max_length=200), AfterValidator(_plain_text)]


class Provenance(BaseModel):
    """Where footage that no dock brought came from: the exporting system, the site, who exported it and
    when, and the file name it had there (kept, since the stored name is ours)."""

    model_config = ConfigDict(extra="forbid")

    system: ProvenanceText = None
    site: ProvenanceText = None
    exported_by: ProvenanceText = None
    exported_at: Instant | None = None
    original_filename: Annotated[str | None, Field(default=None, max_length=1000),
                                 AfterValidator(_plain_text)] = None


class UploadCreate(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    device_id: str = Field(pattern=_ID)
    officer_id: str = Field(pattern=_ID)
    filename: Filename
    content_type: str = Field(max_length=255, description="video/* or audio/* (else 415)", json_schema_extra={
        "pattern": r"^\s*(?:[Vv][Ii][Dd][Ee][Oo]|[Aa][Uu][Dd][Ii][Oo])/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}\s*$"})
    size_bytes: int = Field(gt=0)
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    recorded_start: Instant
    recorded_end: Instant
    device_clock_at_dock: Instant
    source: Source = Field(default=Source.BWV, description="bwv: docks; cctv and audio: staff uploads")
    provenance: Provenance | None = None

    @field_validator("content_type")
    @classmethod
    def _ct(cls, v: str) -> str:
        # Only normalised here: a type that is not footage is a 415, not a malformed field (422).
        return v.strip().lower()

    @field_validator("sha256")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.lower()

    @model_validator(mode="after")
    def _order(self) -> UploadCreate:
        if self.recorded_end < self.recorded_start:
            raise ValueError("recorded_end is before recorded_start")
        if self.source != Source.BWV and self.provenance is None:
            raise ValueError("cctv and audio uploads need a provenance (system, site, exported_by, exported_at, "
                             "original_filename)")
        return self


class PartOut(BaseModel):
    n: int
    size: int


class UploadCreated(BaseModel):
    upload_id: str
    part_size: int
    parts: list[PartOut]
    status: str = "open"
    time_trust: str
    clock_fault: str | None = None


class DuplicateOut(BaseModel):
    recording_id: str
    duplicate: bool = True


class UploadStatus(BaseModel):
    upload_id: str
    status: str
    size_bytes: int
    part_size: int
    parts: list[PartOut]
    received_bytes: int
    recording_id: str | None = None
    created_at: datetime
    updated_at: datetime


def created_answer(res) -> tuple[dict, int]:
    """The JSON body and status of a create-upload answer (a ``service.CreateResult``), for the API and the
    console's uploader alike: 200 with the recording when already stored, 200 when resumed, else 201."""
    if res.duplicate_of:
        return DuplicateOut(recording_id=res.duplicate_of).model_dump(), 200
    out = UploadCreated(upload_id=res.upload.id, part_size=res.upload.part_size,
                        parts=[PartOut(n=p.n, size=p.size) for p in res.parts],
                        time_trust=res.upload.time_trust, clock_fault=res.upload.clock_fault)
    return out.model_dump(mode="json"), 200 if res.resumed else 201
