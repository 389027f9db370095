from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from service.alerts.models import Alert


class AlertOut(BaseModel):
    id: str
    kind: str
    severity: str
    subject_type: str
    subject_id: str
    message: str
    details: dict[str, Any]
    occurrences: int
    created_at: datetime
    last_at: datetime
    open: bool
    acked_at: datetime | None
    acked_by: str | None
    ack_note: str | None

    @classmethod
    def of(cls, a: Alert) -> AlertOut:
        return cls(id=a.id, kind=a.kind, severity=a.severity, subject_type=a.subject_type,
                   subject_id=a.subject_id, message=a.message, details=a.details, occurrences=a.occurrences,
                   created_at=a.created_at, last_at=a.last_at, open=a.acked_at is None, acked_at=a.acked_at,
                   acked_by=a.acked_by, ack_note=a.ack_note)


class AckIn(BaseModel):
    note: str | None = Field(default=None, max_length=1000)
