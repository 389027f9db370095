"""The import manifest (API.md "Sources"): a CSV (or a JSON list of objects) with one row per file.

Columns: ``path, device_id, officer_id, recorded_start, recorded_end, source?, sha256?, category?,
reference?`` and, for footage that no dock brought, the provenance columns ``system, site, exported_by,
exported_at``. Each row is checked alone: a bad row is refused with its reason, the others go on.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import mimetypes
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from service.ingest.schemas import Provenance
from service.recordings.models import Source
from service.timeutil import Instant

_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$"
PROVENANCE_COLUMNS = ("system", "site", "exported_by", "exported_at")
# Containers a legacy tree, a CCTV export or a control room holds that Python's mimetypes does not know.
_TYPES = {".dav": "video/x-dav", ".264": "video/h264", ".h264": "video/h264", ".ts": "video/mp2t",
          ".mkv": "video/x-matroska", ".avi": "video/x-msvideo", ".asf": "video/x-ms-asf",
          ".wmv": "video/x-ms-wmv", ".mp4": "video/mp4", ".mov": "video/quicktime", ".wav": "audio/wav",
          ".mp3": "audio/mpeg", ".aac": "audio/aac", ".m4a": "audio/mp4", ".opus": "audio/opus",
          ".ogg": "audio/ogg"}


class RowIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    path: str = Field(min_length=1, max_length=1000)
    device_id: str = Field(pattern=_ID)
    officer_id: str = Field(pattern=_ID)
    recorded_start: Instant
    recorded_end: Instant
    source: Source = Source.BWV
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    category: str | None = Field(default=None, max_length=40)
    reference: str | None = Field(default=None, max_length=200)
    system: str | None = None
    site: str | None = None
    exported_by: str | None = None
    exported_at: Instant | None = None

    @field_validator("sha256", "category", "reference", "system", "site", "exported_by", "exported_at",
                     mode="before")
    @classmethod
    def _empty_is_none(cls, v: Any) -> Any:
        return None if v == "" else v

    @field_validator("source", mode="before")
    @classmethod
    def _default_source(cls, v: Any) -> Any:
        return Source.BWV if v in ("", None) else v

    @field_validator("path")
    @classmethod
    def _inside(cls, v: str) -> str:
        p = PurePosixPath(v.replace("\\", "/"))
        if p.is_absolute() or ".." in p.parts or any(ord(c) < 32 for c in v):
            raise ValueError("path must be relative to the import root, without '..' or control characters")
        return str(p)

    @model_validator(mode="after")
    def _check(self) -> RowIn:
        if self.recorded_end < self.recorded_start:
            raise ValueError("recorded_end is before recorded_start")
        if self.category and not self.reference:
            raise ValueError("a category needs a reference (the crime or incident it is evidence for)")
        if self.sha256:
            self.sha256 = self.sha256.lower()
        return self


@dataclass(frozen=True)
class Row:
    number: int  # 1-based data row (the header is row 0)
    path: str
    device_id: str
    officer_id: str
    recorded_start: Any
    recorded_end: Any
    source: Source
    sha256: str | None
    category: str | None
    reference: str | None
    provenance: Provenance

    @property
    def content_type(self) -> str:
        suffix = PurePosixPath(self.path).suffix.lower()
        kind = _TYPES.get(suffix) or mimetypes.guess_type(self.path)[0] or ""
        if kind.startswith(("video/", "audio/")):
            return kind
        return "audio/x-unknown" if self.source == Source.AUDIO else "video/x-unknown"

    @property
    def filename(self) -> str:
        # A stored name never carries a path; the original path is kept in the provenance.
        return PurePosixPath(self.path).name[:255] or "imported"


@dataclass(frozen=True)
class Refusal:
    number: int
    path: str
    reason: str


@dataclass(frozen=True)
class Manifest:
    sha256: str
    rows: list[Row]
    refusals: list[Refusal]


def _records(raw: bytes, name: str) -> list[dict[str, Any]]:
    text = raw.decode("utf-8-sig")
    if name.lower().endswith(".json"):
        data = json.loads(text)
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ValueError("a JSON manifest is a list of objects")
        return [{k: ("" if v is None else str(v)) for k, v in r.items()} for r in data]
    reader = csv.DictReader(io.StringIO(text))
    missing = {"path", "device_id", "officer_id", "recorded_start", "recorded_end"} - set(reader.fieldnames or [])
    if missing:
        raise ValueError(f"the manifest has no column {', '.join(sorted(missing))}")
    return list(reader)


def _reason(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(x) for x in err['loc']) or 'row'}: {err['msg']}" for err in e.errors())


def parse(raw: bytes, name: str, *, system: str) -> Manifest:
    """Every row, checked; raises ValueError only when the manifest itself cannot be read."""
    rows: list[Row] = []
    refusals: list[Refusal] = []
    for i, rec in enumerate(_records(raw, name), start=1):
        try:
            r = RowIn.model_validate(rec)
            prov = Provenance(system=r.system or system, site=r.site, exported_by=r.exported_by,
                              exported_at=r.exported_at, original_filename=r.path)
        except ValidationError as e:
            refusals.append(Refusal(i, str(rec.get("path") or "")[:1000], _reason(e)))
            continue
        rows.append(Row(i, r.path, r.device_id, r.officer_id, r.recorded_start, r.recorded_end, r.source,
                        r.sha256, r.category, r.reference, prov))
    return Manifest(hashlib.sha256(raw).hexdigest(), rows, refusals)
