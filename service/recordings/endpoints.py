from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import StreamingResponse

from service.audit import service as audit
from service.auth.endpoints import require
from service.auth.schemas import Principal
from service.db import transaction
from service.disclosure import repository as disclosure_repo
from service.media.probe import served_type
from service.paging import Page, PageParams, after_time_id, cut, page_params
from service.recordings import repository as repo
from service.recordings import service
from service.recordings.access import readable
from service.recordings.schemas import AccessOut, DoNotDiscloseMark, RecordingOut
from service.retention import repository as retention_repo
from service.retention.schemas import FlagOut, ReasonIn, RestrictIn
from service.timeutil import iso, parse_time

router = APIRouter(prefix="/v1/recordings", tags=["recordings"])
viewer = require("officer", "supervisor", "disclosure", "sar_handler", "auditor", "admin")


@router.get("", response_model=Page[RecordingOut])
async def list_recordings(
    request: Request,
    officer_id: str | None = None,
    device_id: str | None = None,
    from_: str | None = Query(None, alias="from"),
    to: str | None = None,
    time_basis: Literal["trusted", "device", "received"] = "trusted",
    flagged: bool | None = None,
    status: Literal["active", "deleted"] | None = None,
    page: PageParams = Depends(page_params),
    actor: Principal = Depends(viewer),
):
    start, end = parse_time(from_, "from"), parse_time(to, "to")
    ctx = request.app.state.ctx
    async with transaction(ctx.sessions) as s:
        rows = await repo.search(s, actor, officer_id=officer_id, device_id=device_id, start=start, end=end,
                                 time_basis=time_basis, flagged=flagged, status=status, after=after_time_id(page),
                                 limit=page.limit + 1)
        key = {"trusted": lambda r: r.basis_start, "device": lambda r: r.recorded_start,
               "received": lambda r: r.received_at}[time_basis]
        rows, nxt = cut(rows, page, lambda r: [iso(key(r)), r.id])
        await audit.record(s, actor, "recordings.searched", "recording", "*",
                           {"officer_id": officer_id, "device_id": device_id, "from": from_, "to": to,
                            "time_basis": time_basis, "returned": [r.id for r in rows]})
    return Page[RecordingOut](items=await with_retention(ctx, rows), next_cursor=nxt)


async def with_retention(ctx, recs) -> list[RecordingOut]:
    """Recordings as the API shows them, with their active flags and holds."""
    ids = [r.id for r in recs]
    flags: dict[str, list] = {i: [] for i in ids}
    holds: dict[str, list] = {i: [] for i in ids}
    async with ctx.sessions() as s:
        for f in await retention_repo.active_flags(s, ids):
            flags[f.recording_id].append(FlagOut.of(f).model_dump(mode="json"))
        for rid, h in await retention_repo.active_holds_for(s, ids):
            holds[rid].append({"id": h.id, "kind": h.kind, "reference": h.reference, "created_at": iso(h.created_at)})
    return [RecordingOut.of(r, flags=flags[r.id], holds=holds[r.id]) for r in recs]


@router.get("/{recording_id}", response_model=RecordingOut)
async def get_recording(request: Request, recording_id: str, actor: Principal = Depends(viewer)):
    ctx = request.app.state.ctx
    rec = await service.view(ctx, actor, recording_id)
    return (await with_retention(ctx, [rec]))[0]


@router.post("/{recording_id}/restrict", response_model=RecordingOut)
async def restrict(request: Request, recording_id: str, body: RestrictIn,
                   actor: Principal = Depends(require("supervisor", "admin"))):
    ctx = request.app.state.ctx
    rec = await service.restrict(ctx, actor, recording_id, body.people, body.reason)
    return (await with_retention(ctx, [rec]))[0]


@router.delete("/{recording_id}/restrict", response_model=RecordingOut)
async def unrestrict(request: Request, recording_id: str, body: ReasonIn = Body(...),
                     actor: Principal = Depends(require("supervisor", "admin"))):
    ctx = request.app.state.ctx
    rec = await service.unrestrict(ctx, actor, recording_id, body.reason)
    return (await with_retention(ctx, [rec]))[0]


@router.get("/{recording_id}/access", response_model=AccessOut)
async def get_access(request: Request, recording_id: str,
                     actor: Principal = Depends(require("supervisor", "admin", "auditor"))):
    """Who a restricted recording is limited to, and its do-not-disclose mark (404 when the caller may
    not see the recording itself)."""
    async with request.app.state.ctx.sessions() as s:
        rec = await readable(s, actor, recording_id)
        people = await repo.access_list(s, rec.id) if rec.restricted else []
        mark = await disclosure_repo.mark(s, rec.id)
    return AccessOut(recording_id=rec.id, restricted=rec.restricted, people=people,
                     do_not_disclose=DoNotDiscloseMark(reason=mark.reason, marked_by=mark.marked_by,
                                                       marked_at=mark.marked_at) if mark else None)


@router.get("/{recording_id}/media", response_class=StreamingResponse,
            responses={206: {"description": "Partial content (Range)"}})
async def get_media(request: Request, recording_id: str, actor: Principal = Depends(viewer)):
    rec, rng, body = await service.open_media(request.app.state.ctx, actor, recording_id,
                                              request.headers.get("range"))
    # The probed container's type, never the dock's word for it (which could say text/html).
    return service.ranged_response(body, rng, rec.size_bytes, served_type(rec.media), etag=rec.sha256,
                                   filename=rec.id)
