"""Devices and their clock history: every dock compares the camera's clock with the server's."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from service import metrics
from service.alerts.models import AlertKind, Severity
from service.alerts.service import raise_alert
from service.audit import service as audit
from service.auth.roles import Role, require
from service.auth.schemas import Principal
from service.devices import repository as repo
from service.devices.clock import ClockAssessment
from service.devices.models import ClockCheck, ClockStatus, Device
from service.devices.schemas import DeviceOut
from service.errors import NotFound
from service.paging import Page, PageParams, after_id, cut

# Who may see the cameras and their clock drift.
VIEWERS = (Role.SUPERVISOR, Role.ADMIN, Role.AUDITOR, Role.DISCLOSURE)


async def list_devices(session: AsyncSession, actor: Principal, page: PageParams, *,
                       clock_status: ClockStatus | None = None) -> Page[DeviceOut]:
    require(actor, VIEWERS)
    rows = await repo.page(session, after=after_id(page), limit=page.limit + 1, clock_status=clock_status)
    rows, nxt = cut(rows, page, lambda d: [d.id])
    return Page[DeviceOut](items=[DeviceOut.of(d) for d in rows], next_cursor=nxt)


async def get_device(session: AsyncSession, actor: Principal, device_id: str) -> DeviceOut:
    require(actor, VIEWERS)
    device = await repo.get(session, device_id)
    if device is None:
        raise NotFound(f"No device {device_id!r} has docked.", slug="device-not-found")
    return DeviceOut.of(device, await repo.clock_history(session, device_id))


async def record_clock_check(session: AsyncSession, actor: Principal, device_id: str, now: datetime,
                             device_clock: datetime, result: ClockAssessment, upload_id: str) -> Device:
    device = await repo.get(session, device_id, for_update=True)
    if device is None:
        device = Device(id=device_id, first_seen=now, last_seen=now)
        await repo.add(session, device)  # the clock check below refers to it
    device.last_seen = now
    device.last_drift_s = result.drift_s
    await repo.add(session, ClockCheck(device_id=device_id, at=now, device_clock=device_clock,
                                       drift_s=result.drift_s, fault=result.fault, upload_id=upload_id))
    if result.fault:
        metrics.CLOCK_FAULTS.inc()
        if device.clock_status != ClockStatus.FAULT:
            device.clock_status, device.fault_since = ClockStatus.FAULT, now
            await audit.record(session, actor, "device.clock_fault", "device", device_id,
                               {"drift_s": result.drift_s, "reason": result.fault, "upload_id": upload_id})
        await raise_alert(session, AlertKind.CLOCK_FAULT, "device", device_id,
                          f"Camera {device_id}: {result.fault}",
                          {"drift_s": result.drift_s, "device_clock_at_dock": device_clock,
                           "last_upload_id": upload_id, "time_trust": result.time_trust},
                          severity=Severity.CRITICAL)
    elif device.clock_status == ClockStatus.FAULT:
        device.clock_status, device.fault_since = ClockStatus.OK, None
        await audit.record(session, actor, "device.clock_ok", "device", device_id, {"drift_s": result.drift_s})
    await session.flush()
    return device
