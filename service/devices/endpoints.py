from __future__ import annotations

from fastapi import APIRouter, Depends

from service.auth.endpoints import require
from service.auth.schemas import Principal
from service.deps import SessionDep
from service.devices import service
from service.devices.models import ClockStatus
from service.devices.schemas import DeviceOut
from service.errors import problems
from service.paging import Page, PageParams, page_params

router = APIRouter(tags=["devices"], responses=problems(401, 403, 422))
device_viewer = require(*service.VIEWERS)


@router.get("/v1/devices", response_model=Page[DeviceOut])
async def list_devices(s: SessionDep, clock_status: ClockStatus | None = None,
                       page: PageParams = Depends(page_params), actor: Principal = Depends(device_viewer)):
    return await service.list_devices(s, actor, page, clock_status=clock_status)


@router.get("/v1/devices/{device_id}", responses=problems(404), response_model=DeviceOut)
async def get_device(s: SessionDep, device_id: str, actor: Principal = Depends(device_viewer)):
    return await service.get_device(s, actor, device_id)
