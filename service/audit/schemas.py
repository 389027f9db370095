from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AuditEventOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    roles: list[str]
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]
    ip: str | None
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None


class VerifyResult(BaseModel):
    ok: bool
    events: int
    first_bad_seq: int | None
    reason: str | None = None
