from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import StreamingResponse

from service.auth.endpoints import require
from service.auth.schemas import Principal
from service.deps import ContextDep, SessionDep
from service.errors import PARTIAL, problems
from service.http_range import ranged_response
from service.paging import Page, PageParams, page_params
from service.recordings import service
from service.recordings.models import RecordingStatus
from service.recordings.schemas import AccessOut, RecordingOut
from service.recordings.service import TimeBasis
from service.retention.schemas import ReasonIn, RestrictIn
from service.timeutil import IsoTime, parse_time

router = APIRouter(prefix="/v1/recordings", tags=["recordings"], responses=problems(401, 403, 422))
# The services check these roles themselves; the guards answer 403 before a bad body's 422.
viewer = require(*service.VIEWERS)
restricter = require(*service.RESTRICTERS)


@router.get("", response_model=Page[RecordingOut])
async def list_recordings(
    s: SessionDep,
    officer_id: str | None = None,
    device_id: str | None = None,
    from_: IsoTime | None = Query(None, alias="from"),
    to: IsoTime | None = None,
    time_basis: TimeBasis = "trusted",
    flagged: bool | None = None,
    status: Literal["active", "deleted"] | None = None,
    page: PageParams = Depends(page_params),
    actor: Principal = Depends(viewer),
):
    return await service.search(s, actor, page, officer_id=officer_id, device_id=device_id,
                                start=parse_time(from_, "from"), end=parse_time(to, "to"), time_basis=time_basis,
                                flagged=flagged,
                                status=RecordingStatus(status) if status else None)


@router.get("/{recording_id}", responses=problems(404, 410), response_model=RecordingOut)
async def get_recording(s: SessionDep, recording_id: str, actor: Principal = Depends(viewer)):
    return await service.view(s, actor, recording_id)


@router.post("/{recording_id}/restrict", responses=problems(404, 410), response_model=RecordingOut)
async def restrict(s: SessionDep, recording_id: str, body: RestrictIn, actor: Principal = Depends(restricter)):
    return await service.restrict(s, actor, recording_id, body.people, body.reason)


@router.delete("/{recording_id}/restrict", responses=problems(404, 409, 410), response_model=RecordingOut)
async def unrestrict(s: SessionDep, recording_id: str, body: ReasonIn = Body(...),
                     actor: Principal = Depends(restricter)):
    return await service.unrestrict(s, actor, recording_id, body.reason)


@router.get("/{recording_id}/access", responses=problems(404, 410), response_model=AccessOut)
async def get_access(s: SessionDep, recording_id: str, actor: Principal = Depends(require(*service.ACCESS_READERS))):
    """Who a restricted recording is limited to, and its do-not-disclose mark (404 when the caller may
    not see the recording itself)."""
    return await service.access(s, actor, recording_id)


@router.get("/{recording_id}/media", response_class=StreamingResponse,
            responses={**PARTIAL, **problems(404, 409, 410, 416)})
async def get_media(request: Request, s: SessionDep, ctx: ContextDep, recording_id: str,
                    copy: service.MediaCopy = Query("master", description=(
                        "master (byte-exact, the exhibit); working: the MP4 made when browsers cannot play the "
                        "master (404 when there is none, 409 until it is made); playable: the working copy "
                        "when there is one, else the master")),
                    actor: Principal = Depends(viewer)):
    m = await service.open_media(s, actor, ctx, recording_id, request.headers.get("range"), copy)
    # The probed container's type, never the dock's word for it (which could say text/html).
    return ranged_response(m.body, m.rng, m.size, m.content_type, etag=m.sha256, filename=m.filename)
