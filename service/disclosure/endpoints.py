from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Request

from service.auth.endpoints import require
from service.auth.schemas import Principal
from service.disclosure import service
from service.disclosure.schemas import CaseIn, CaseOut, ItemIn, ItemOut, MarkOut, ReasonIn

router = APIRouter(tags=["disclosure"])
disclosure = require("disclosure", "admin")
supervisor = require("supervisor", "admin")


@router.post("/v1/cases", status_code=201, response_model=CaseOut)
async def create_case(request: Request, body: CaseIn, actor: Principal = Depends(disclosure)):
    return CaseOut.of(await service.create_case(request.app.state.ctx, actor, body), [])


@router.get("/v1/cases/{case_id}", response_model=CaseOut)
async def get_case(request: Request, case_id: str, _: Principal = Depends(disclosure)):
    return CaseOut.of(*await service.get_case(request.app.state.ctx, case_id))


@router.post("/v1/cases/{case_id}/items", status_code=201, response_model=ItemOut)
async def add_item(request: Request, case_id: str, body: ItemIn, actor: Principal = Depends(disclosure)):
    return ItemOut.of(await service.add_item(request.app.state.ctx, actor, case_id, body))


@router.post("/v1/cases/{case_id}/close", response_model=CaseOut)
async def close_case(request: Request, case_id: str, body: ReasonIn, actor: Principal = Depends(disclosure)):
    ctx = request.app.state.ctx
    await service.close_case(ctx, actor, case_id, body.reason)
    return CaseOut.of(*await service.get_case(ctx, case_id))


@router.post("/v1/recordings/{recording_id}/do-not-disclose", status_code=201, response_model=MarkOut)
async def mark(request: Request, recording_id: str, body: ReasonIn, actor: Principal = Depends(supervisor)):
    m = await service.mark_do_not_disclose(request.app.state.ctx, actor, recording_id, body.reason)
    return MarkOut(recording_id=m.recording_id, reason=m.reason, marked_by=m.marked_by, marked_at=m.marked_at)


@router.delete("/v1/recordings/{recording_id}/do-not-disclose", status_code=204)
async def lift(request: Request, recording_id: str, body: ReasonIn = Body(...), actor: Principal = Depends(supervisor)):
    await service.lift_do_not_disclose(request.app.state.ctx, actor, recording_id, body.reason)
