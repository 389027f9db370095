from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from service.audit import service
from service.audit.schemas import AuditPage, VerifyResult
from service.auth.endpoints import require
from service.auth.schemas import Principal
from service.deps import SessionDep
from service.errors import problems
from service.paging import PageParams, page_params
from service.timeutil import IsoTime, parse_time

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=problems(401, 403, 422))
auditor = require(*service.READERS)


@router.get("", response_model=AuditPage)
async def list_audit(s: SessionDep, object_id: str | None = None, actor: str | None = None,
                     action: str | None = None, from_: IsoTime | None = Query(None, alias="from"),
                     to: IsoTime | None = None, page: PageParams = Depends(page_params),
                     reader: Principal = Depends(auditor)):
    return await service.search(s, reader, page, object_id=object_id, actor=actor, action=action,
                                start=parse_time(from_, "from"), end=parse_time(to, "to"))


@router.get("/verify", response_model=VerifyResult)
async def verify(s: SessionDep, reader: Principal = Depends(auditor)):
    return await service.verify_as(s, reader)
