"""Console pages: an officer's footage, everyone's footage (with filters), the recording page with its
player, and flagging as evidence. Supervisors' controls on the recording page post to supervisor.py."""

from __future__ import annotations

from fastapi import Depends, Query, Request

from service.auth.schemas import Principal
from service.errors import Gone
from service.recordings import endpoints as recordings_api
from service.retention import endpoints as retention_api
from service.retention.schemas import FlagIn
from service.web import drift  # noqa: F401  (registers the drift_words filter the facts use)
from service.web.deps import call_api, form_model, signed_in
from service.web.pageutil import day_param, limit_of, next_url, yes_no
from service.web.render import console_router, done, render

router = console_router()
viewer = signed_in(*recordings_api.viewer.roles)
officer = signed_in("officer")


@router.get("/ui/officer")
async def my_footage(request: Request, cursor: str | None = None, limit: str | None = None,
                     me: Principal = Depends(officer)):
    page = await call_api(recordings_api.list_recordings, request, me, officer_id=me.sub, time_basis="trusted",
                          cursor=cursor, limit=limit_of(limit))
    due = await call_api(retention_api.upcoming, request, me, days=7, limit=100)
    return render(request, "recordings/officer.html", me, title="My footage", recordings=page.items,
                  next_url=next_url("/ui/officer", {"limit": limit}, page.next_cursor), due=due,
                  show_officer=False, supervises=me.has("supervisor", "admin"))


@router.get("/ui/recordings")
async def footage(request: Request, officer_id: str | None = None, device_id: str | None = None,
                  from_: str | None = Query(None, alias="from"), to: str | None = None,
                  flagged: str | None = None, cursor: str | None = None, limit: str | None = None,
                  me: Principal = Depends(viewer)):
    filters = {"officer_id": officer_id or "", "device_id": device_id or "", "from": from_ or "", "to": to or "",
               "flagged": flagged or ""}
    page = await call_api(recordings_api.list_recordings, request, me, officer_id=officer_id or None,
                          device_id=device_id or None, from_=day_param(from_, "from"), to=day_param(to, "to", end=True),
                          flagged=yes_no(flagged), time_basis="trusted", cursor=cursor, limit=limit_of(limit))
    return render(request, "recordings/list.html", me, title="Footage", recordings=page.items, filters=filters,
                  next_url=next_url("/ui/recordings", {**filters, "limit": limit}, page.next_cursor),
                  show_officer=True, supervises=me.has("supervisor", "admin"))


@router.get("/ui/recordings/{recording_id}")
async def recording_page(request: Request, recording_id: str, me: Principal = Depends(viewer)):
    try:
        rec = await call_api(recordings_api.get_recording, request, me, recording_id=recording_id)
    except Gone as gone:
        # Deleted under the retention policy: the tombstone is the answer, not an error.
        return render(request, "recordings/tombstone.html", me, status=410, title="Recording deleted",
                      tomb=gone.extra, detail=gone.detail)
    access = None
    if me.has("supervisor", "admin", "auditor"):
        access = await call_api(recordings_api.get_access, request, me, recording_id=recording_id)
    return render(request, "recordings/detail.html", me, title=f"Recording {rec.id}", rec=rec, access=access,
                  can_flag=me.has("officer", "supervisor", "disclosure", "admin"),
                  supervises=me.has("supervisor", "admin"), audits=me.has("auditor"))


@router.post("/ui/recordings/{recording_id}/flags")
async def flag(request: Request, recording_id: str, me: Principal = Depends(viewer)):
    body = form_model(FlagIn, dict(await request.form()))
    made = await call_api(retention_api.add_flag, request, me, recording_id=recording_id, body=body)
    clip = (f", clip {made.clip_start_s:g}–{made.clip_end_s:g} s" if made.clip_start_s is not None else "")
    return done(f"/ui/recordings/{recording_id}", f"Flagged as {made.category} (reference {made.reference}{clip}).")


@router.get("/ui/recordings/{recording_id}/media")
async def media(request: Request, recording_id: str, me: Principal = Depends(viewer)):
    """The HTML5 player's source: the API's ranged, audited media stream, with the session's identity."""
    return await call_api(recordings_api.get_media, request, me, recording_id=recording_id)
