from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from service.auth.endpoints import require
from service.auth.schemas import Principal
from service.coldtier import service
from service.coldtier.schemas import TierForecast
from service.deps import ContextDep, SessionDep
from service.errors import bounded_query, problems
from service.recordings.schemas import RecordingOut
from service.recordings.service import present
from service.retention.service import OVERSEERS

router = APIRouter(tags=["cold storage"], responses=problems(401, 403, 422))
restorer = require(*service.RESTORERS)


@router.post("/v1/recordings/{recording_id}/restore", status_code=202, response_model=RecordingOut,
             responses=problems(404, 409, 410))
async def restore(s: SessionDep, ctx: ContextDep, recording_id: str, actor: Principal = Depends(restorer)):
    """Ask for a cold recording back (202: asked; archive storage takes hours). Its ``storage.restore`` says
    ``requested`` until a copy is readable, then ``ready`` until ``restored_until``; media, clips and bundles
    read it meanwhile. Asking again is harmless (and audited). 409 ``not-in-cold-storage`` for hot footage."""
    rec = await service.request_restore(s, actor, ctx, recording_id)
    return (await present(s, [rec]))[0]


@router.get("/v1/retention/forecast/tiers", response_model=TierForecast)
async def tier_forecast(s: SessionDep, ctx: ContextDep,
                        months: Annotated[int, bounded_query("months", 1, 60)] = 12,
                        actor: Principal = Depends(require(*OVERSEERS))):
    """Bytes (and recordings) each storage tier will hold at the end of each of the next ``months`` months,
    for the footage stored now, under the retention policy's periods and ``cold_after_days``."""
    return await service.tier_forecast(s, actor, ctx, months)
