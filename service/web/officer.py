"""Console pages: an officer's footage, the recording page with its player, flagging as evidence."""

from __future__ import annotations

from fastapi import Depends, Request

from service.auth.schemas import Principal
from service.recordings import endpoints as recordings_api
from service.web.deps import call_api, signed_in
from service.web.render import console_router

router = console_router()
viewer = signed_in("officer", "supervisor", "disclosure", "sar_handler", "auditor", "admin")


@router.get("/ui/recordings/{recording_id}/media")
async def media(request: Request, recording_id: str, me: Principal = Depends(viewer)):
    """The HTML5 player's source: the API's ranged, audited media stream, with the session's identity."""
    return await call_api(recordings_api.get_media, request, me, recording_id=recording_id)
