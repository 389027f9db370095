from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from service.devices.models import Alert, ClockCheck, Device


class ClockCheckOut(BaseModel):
    at: datetime
    device_clock: datetime
    drift_s: float
    fault: str | None
    upload_id: str | None

    @classmethod
    def of(cls, c: ClockCheck) -> ClockCheckOut:
        return cls(at=c.at, device_clock=c.device_clock, drift_s=c.drift_s, fault=c.fault, upload_id=c.upload_id)


class DeviceOut(BaseModel):
    id: str
    first_seen: datetime
    last_seen: datetime
    last_drift_s: float | None
    clock_status: str
    fault_since: datetime | None
    history: list[ClockCheckOut] | None = None

    @classmethod
    def of(cls, d: Device, history: list[ClockCheck] | None = None) -> DeviceOut:
        return cls(id=d.id, first_seen=d.first_seen, last_seen=d.last_seen, last_drift_s=d.last_drift_s,
                   clock_status=d.clock_status, fault_since=d.fault_since,
                   history=[ClockCheckOut.of(c) for c in history] if history is not None else None)


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
