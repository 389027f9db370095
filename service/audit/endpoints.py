from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from service.audit import repository as repo
from service.audit import service
from service.audit.schemas import AuditEventOut, AuditPage, VerifyResult
from service.auth.endpoints import require
from service.auth.schemas import Principal
from service.errors import problems
from service.paging import PageParams, after_seq, cut, page_params
from service.timeutil import IsoTime, parse_time

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=problems(401, 403, 422))
auditor = require("auditor", "admin")


@router.get("", response_model=AuditPage)
async def list_audit(request: Request, object_id: str | None = None, actor: str | None = None,
                     action: str | None = None, from_: IsoTime | None = Query(None, alias="from"),
                     to: IsoTime | None = None, page: PageParams = Depends(page_params),
                     _: Principal = Depends(auditor)):
    after = after_seq(page)
    async with request.app.state.ctx.sessions() as s:
        rows = await repo.list_events(s, object_id=object_id, actor=actor, action=action,
                                      start=parse_time(from_, "from"), end=parse_time(to, "to"),
                                      after_seq=after, limit=page.limit + 1)
    rows, nxt = cut(rows, page, lambda e: [e.seq])
    return AuditPage(items=[AuditEventOut.model_validate(r, from_attributes=True) for r in rows], next_cursor=nxt)


@router.get("/verify", response_model=VerifyResult)
async def verify(request: Request, _: Principal = Depends(auditor)):
    async with request.app.state.ctx.sessions() as s:
        return await service.verify(s)
