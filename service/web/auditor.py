"""Console pages: audit search, one-click chain verification, and a recording's continuity."""

from __future__ import annotations

from fastapi import Depends, Query, Request

from service.audit import endpoints as audit_api
from service.auth.schemas import Principal
from service.errors import Gone
from service.recordings import endpoints as recordings_api
from service.web.deps import call_api, signed_in
from service.web.pageutil import utc_field
from service.web.render import console_router, fragment, render

router = console_router()
auditor = signed_in(*audit_api.auditor.roles)


@router.get("/ui/audit")
async def search(request: Request, object_id: str = "", actor: str = "", action: str = "",
                 from_: str = Query("", alias="from"), to: str = "", cursor: str | None = None,
                 me: Principal = Depends(auditor)):
    filters = {"object_id": object_id.strip(), "actor": actor.strip(), "action": action.strip(),
               "from": from_.strip(), "to": to.strip()}
    page = await call_api(audit_api.list_audit, request, me, cursor=cursor, limit=100,
                          object_id=filters["object_id"] or None, actor=filters["actor"] or None,
                          action=filters["action"] or None, from_=utc_field(filters["from"]), to=utc_field(filters["to"]))
    return render(request, "audit/search.html", me, title="Audit", page=page, filters=filters)


@router.get("/ui/audit/verify")
async def verify(request: Request, me: Principal = Depends(auditor)):
    """The whole chain, re-hashed now (the same check as ``bwv audit verify``)."""
    result = await call_api(audit_api.verify, request, me)
    return fragment(request, "audit/_verify.html", result=result)


@router.get("/ui/recordings/{recording_id}/continuity")
async def continuity(request: Request, recording_id: str, cursor: str | None = None,
                     me: Principal = Depends(auditor)):
    """Who held, viewed, flagged, clipped, shared or deleted this recording, in chain order."""
    try:
        rec = await call_api(recordings_api.get_recording, request, me, recording_id=recording_id)
    except Gone:  # a deleted recording keeps its continuity
        rec = None
    page = await call_api(audit_api.list_audit, request, me, object_id=recording_id, cursor=cursor, limit=200)
    return render(request, "audit/continuity.html", me, title=f"Continuity of {recording_id}", rec=rec,
                  recording_id=recording_id, page=page)

