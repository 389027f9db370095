from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Query

from service.alerts import service
from service.alerts.schemas import AckIn, AlertOut
from service.auth.endpoints import require
from service.auth.schemas import Principal
from service.deps import SessionDep
from service.errors import problems
from service.paging import Page, PageParams, page_params

router = APIRouter(tags=["devices"], responses=problems(401, 403, 422))
# The service checks the roles; the dependency answers 403 before a bad body's 422, as every endpoint does.
reader = require(*service.READERS)


@router.get("/v1/alerts", response_model=Page[AlertOut])
async def list_alerts(s: SessionDep, open: bool | None = Query(None), kind: str | None = None,
                      page: PageParams = Depends(page_params), actor: Principal = Depends(reader)):
    return await service.list_alerts(s, actor, page, open_only=open, kind=kind)


@router.post("/v1/alerts/{alert_id}/ack", responses=problems(404, 409), response_model=AlertOut)
async def ack_alert(s: SessionDep, alert_id: str, body: AckIn | None = Body(None),
                    actor: Principal = Depends(reader)):
    return await service.ack(s, actor, alert_id, body.note if body else None)
