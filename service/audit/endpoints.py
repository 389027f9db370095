from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Query

from service.audit import service
from service.audit.models import VerificationMode
from service.audit.schemas import AuditPage, CheckpointOut, CheckpointPage, VerifyResult, WitnessCheckpointIn
from service.auth.endpoints import require
from service.auth.schemas import Principal
from service.deps import ContextDep, SessionDep
from service.errors import problems
from service.paging import PageParams, page_params
from service.timeutil import IsoTime, parse_time

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=problems(401, 403, 422))
public = APIRouter(prefix="/v1/audit", tags=["audit"], responses=problems(422))
auditor = require(*service.READERS)


def _tsa_ca(ctx) -> str | None:
    return str(ctx.settings.tsa_ca_file) if ctx.settings.tsa_ca_file else None


@router.get("", response_model=AuditPage)
async def list_audit(s: SessionDep, object_id: str | None = None, actor: str | None = None,
                     action: str | None = None, from_: IsoTime | None = Query(None, alias="from"),
                     to: IsoTime | None = None, page: PageParams = Depends(page_params),
                     reader: Principal = Depends(auditor)):
    return await service.search(s, reader, page, object_id=object_id, actor=actor, action=action,
                                start=parse_time(from_, "from"), end=parse_time(to, "to"))


@router.get("/verify", response_model=VerifyResult)
async def verify(s: SessionDep, ctx: ContextDep, mode: VerificationMode = VerificationMode.FULL,
                 reader: Principal = Depends(auditor)):
    """The chain against every signed checkpoint; ``mode=incremental`` starts where the last good run ended."""
    return await service.verify_as(s, reader, ctx.signer, ctx.store, mode=mode, tsa_ca=_tsa_ca(ctx))


@router.post("/verify", response_model=VerifyResult)
async def verify_with_witness(s: SessionDep, ctx: ContextDep, checkpoint: WitnessCheckpointIn = Body(...),
                              mode: VerificationMode = VerificationMode.FULL, reader: Principal = Depends(auditor)):
    """As GET, also holding the chain against *checkpoint*, a copy a witness saved from ``/checkpoints/latest``."""
    return await service.verify_as(s, reader, ctx.signer, ctx.store, mode=mode, witness=checkpoint.model_dump(exclude_none=True),
                                   tsa_ca=_tsa_ca(ctx))


@router.get("/checkpoints", response_model=CheckpointPage)
async def list_checkpoints(s: SessionDep, page: PageParams = Depends(page_params), reader: Principal = Depends(auditor)):
    """Signed checkpoints, newest first."""
    return await service.list_checkpoints(s, reader, page)


@public.get("/checkpoints/latest", response_model=CheckpointOut, responses=problems(404))
async def latest_checkpoint(s: SessionDep):
    """No login: the newest signed checkpoint (nothing personal in it), for witnesses to keep."""
    return await service.latest_checkpoint(s)
