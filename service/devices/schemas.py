from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from service.devices.models import ClockCheck, Device


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
