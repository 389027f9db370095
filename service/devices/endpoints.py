from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Body, Depends, Query, Request

from service.auth.endpoints import require
from service.auth.schemas import Principal
from service.db import transaction
from service.devices import repository as repo
from service.devices import service
from service.devices.schemas import AckIn, AlertOut, DeviceOut
from service.errors import NotFound
from service.paging import Page, PageParams, after_id, cut, page_params

router = APIRouter(tags=["devices"])
device_viewer = require("supervisor", "admin", "auditor", "disclosure")
supervisor = require("supervisor", "admin")


@router.get("/v1/devices", response_model=Page[DeviceOut])
async def list_devices(request: Request, clock_status: Literal["ok", "fault"] | None = None,
                       page: PageParams = Depends(page_params), _: Principal = Depends(device_viewer)):
    async with request.app.state.ctx.sessions() as s:
        rows = await repo.list_devices(s, after=after_id(page), limit=page.limit + 1, clock_status=clock_status)
    rows, nxt = cut(rows, page, lambda d: [d.id])
    return Page[DeviceOut](items=[DeviceOut.of(d) for d in rows], next_cursor=nxt)


@router.get("/v1/devices/{device_id}", response_model=DeviceOut)
async def get_device(request: Request, device_id: str, _: Principal = Depends(device_viewer)):
    async with request.app.state.ctx.sessions() as s:
        device = await repo.get_device(s, device_id)
        if device is None:
            raise NotFound(f"No device {device_id!r} has docked.", slug="device-not-found")
        return DeviceOut.of(device, await repo.clock_history(s, device_id))


@router.get("/v1/alerts", response_model=Page[AlertOut])
async def list_alerts(request: Request, open: bool | None = Query(None), kind: str | None = None,
                      page: PageParams = Depends(page_params), actor: Principal = Depends(supervisor)):
    async with request.app.state.ctx.sessions() as s:
        rows = await repo.list_alerts(s, open_only=open, kind=kind, after=after_id(page), limit=page.limit + 1,
                                      viewer=actor)
    rows, nxt = cut(rows, page, lambda a: [a.id])
    return Page[AlertOut](items=[AlertOut.of(a) for a in rows], next_cursor=nxt)


@router.post("/v1/alerts/{alert_id}/ack", response_model=AlertOut)
async def ack_alert(request: Request, alert_id: str, body: AckIn | None = Body(None),
                    actor: Principal = Depends(supervisor)):
    async with transaction(request.app.state.ctx.sessions) as s:
        alert = await service.ack_alert(s, actor, alert_id, body.note if body else None)
    return AlertOut.of(alert)
