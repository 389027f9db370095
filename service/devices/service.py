"""Devices, their clock history, and supervisor alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service import metrics
from service.audit import service as audit
from service.auth.schemas import Principal
from service.devices import repository as repo
from service.devices.clock import ClockAssessment
from service.devices.models import Alert, ClockCheck, Device
from service.errors import Conflict, NotFound
from service.ids import new_id
from service.timeutil import utcnow


async def raise_alert(session: AsyncSession, kind: str, subject_type: str, subject_id: str, message: str,
                      details: dict[str, Any] | None = None, severity: str = "warning") -> Alert:
    """Open an alert, or count one more occurrence on the open alert of the same kind and subject."""
    now = utcnow()
    alert = await repo.find_open_alert(session, kind, subject_id)
    if alert is not None:
        alert.occurrences += 1
        alert.last_at = now
        alert.message = message
        alert.details = {**alert.details, **(details or {})}
        return alert
    alert = Alert(id=new_id("alr"), kind=kind, severity=severity, subject_type=subject_type,
                  subject_id=subject_id, message=message, details=details or {}, occurrences=1,
                  created_at=now, last_at=now)
    session.add(alert)
    await session.flush()
    return alert


async def record_clock_check(session: AsyncSession, actor: Principal, device_id: str, now: datetime,
                             device_clock: datetime, result: ClockAssessment, upload_id: str) -> Device:
    device = await repo.get_device(session, device_id, for_update=True)
    if device is None:
        device = Device(id=device_id, first_seen=now, last_seen=now)
        session.add(device)
        await session.flush()  # the clock check below refers to it
    device.last_seen = now
    device.last_drift_s = result.drift_s
    session.add(ClockCheck(device_id=device_id, at=now, device_clock=device_clock, drift_s=result.drift_s,
                           fault=result.fault, upload_id=upload_id))
    if result.fault:
        metrics.CLOCK_FAULTS.inc()
        if device.clock_status != "fault":
            device.clock_status, device.fault_since = "fault", now
            await audit.record(session, actor, "device.clock_fault", "device", device_id,
                               {"drift_s": result.drift_s, "reason": result.fault, "upload_id": upload_id})
        await raise_alert(session, "clock_fault", "device", device_id,
                          f"Camera {device_id}: {result.fault}",
                          {"drift_s": result.drift_s, "device_clock_at_dock": device_clock,
                           "last_upload_id": upload_id, "time_trust": result.time_trust},
                          severity="critical")
    elif device.clock_status == "fault":
        device.clock_status, device.fault_since = "ok", None
        await audit.record(session, actor, "device.clock_ok", "device", device_id, {"drift_s": result.drift_s})
    await session.flush()
    return device


async def ack_alert(session: AsyncSession, actor: Principal, alert_id: str, note: str | None) -> Alert:
    alert = await repo.get_alert(session, alert_id, for_update=True)
    if alert is None:
        raise NotFound(f"No alert {alert_id!r}.")
    if alert.acked_at is not None:
        raise Conflict(f"Alert {alert_id} was already acknowledged by {alert.acked_by}.", slug="already-acked")
    alert.acked_at, alert.acked_by, alert.ack_note = utcnow(), actor.sub, note
    await audit.record(session, actor, "alert.acked", "alert", alert_id, {"kind": alert.kind, "note": note})
    return alert
