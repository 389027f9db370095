"""Console pages: an officer's footage, everyone's footage (with filters), the recording page with its
player, and flagging as evidence. Supervisors' controls on the recording page post to supervisor.py.
Each page calls the recordings and retention services as the signed-in person, in one transaction."""

from __future__ import annotations

from fastapi import Depends, Query, Request

from service.auth.roles import Role
from service.auth.schemas import Principal
from service.deps import ContextDep, SessionDep
from service.errors import Gone
from service.http_range import ranged_response
from service.paging import page_params
from service.recordings import service as recordings
from service.retention import service as retention
from service.retention.schemas import FlagIn, FlagOut
from service.timeutil import parse_time
from service.web import drift  # noqa: F401  (registers the drift_words filter the facts use)
from service.web.deps import form_model, signed_in
from service.web.pageutil import day_param, limit_of, next_url, with_numbers, yes_no
from service.web.render import console_router, done, render

router = console_router()
viewer = signed_in(*recordings.VIEWERS)
officer = signed_in(Role.OFFICER)
DUE_DAYS = 7


@router.get("/ui/officer")
async def my_footage(request: Request, s: SessionDep, ctx: ContextDep, cursor: str | None = None,
                     limit: str | None = None, me: Principal = Depends(officer)):
    page = await recordings.search(s, me, page_params(limit_of(limit), cursor), officer_id=me.sub)
    due = await retention.upcoming(s, me, ctx, DUE_DAYS, page_params(100))
    return render(request, "recordings/officer.html", me, title="My footage", recordings=page.items,
                  next_url=next_url("/ui/officer", {"limit": limit}, page.next_cursor), due=due,
                  show_officer=False, supervises=me.has(*recordings.RESTRICTERS))


@router.get("/ui/recordings")
async def footage(request: Request, s: SessionDep, officer_id: str | None = None, device_id: str | None = None,
                  from_: str | None = Query(None, alias="from"), to: str | None = None,
                  flagged: str | None = None, cursor: str | None = None, limit: str | None = None,
                  me: Principal = Depends(viewer)):
    filters = {"officer_id": officer_id or "", "device_id": device_id or "", "from": from_ or "", "to": to or "",
               "flagged": flagged or ""}
    page = await recordings.search(s, me, page_params(limit_of(limit), cursor), officer_id=officer_id or None,
                                   device_id=device_id or None, start=parse_time(day_param(from_, "from"), "from"),
                                   end=parse_time(day_param(to, "to", end=True), "to"), flagged=yes_no(flagged))
    return render(request, "recordings/list.html", me, title="Footage", recordings=page.items, filters=filters,
                  next_url=next_url("/ui/recordings", {**filters, "limit": limit}, page.next_cursor),
                  show_officer=True, supervises=me.has(*recordings.RESTRICTERS))


@router.get("/ui/recordings/{recording_id}")
async def recording_page(request: Request, s: SessionDep, recording_id: str, me: Principal = Depends(viewer)):
    try:
        rec = await recordings.view(s, me, recording_id)
    except Gone as gone:
        # Deleted under the retention policy: the tombstone is the answer, not an error.
        return render(request, "recordings/tombstone.html", me, status=410, title="Recording deleted",
                      tomb=gone.extra, detail=gone.detail)
    access = await recordings.access(s, me, recording_id) if me.has(*recordings.ACCESS_READERS) else None
    return render(request, "recordings/detail.html", me, title=f"Recording {rec.id}", rec=rec, access=access,
                  can_flag=me.has(*retention.FLAGGERS), supervises=me.has(*recordings.RESTRICTERS),
                  audits=me.has(Role.AUDITOR))


@router.post("/ui/recordings/{recording_id}/flags")
async def flag(request: Request, s: SessionDep, ctx: ContextDep, recording_id: str, me: Principal = Depends(viewer)):
    form = dict(await request.form())
    body = form_model(FlagIn, with_numbers(form))
    made = FlagOut.of(await retention.add_flag(s, me, ctx, recording_id, body))
    clip = (f", clip {made.clip_start_s:g}–{made.clip_end_s:g} s" if made.clip_start_s is not None else "")
    return done(f"/ui/recordings/{recording_id}", f"Flagged as {made.category} (reference {made.reference}{clip}).")


@router.get("/ui/recordings/{recording_id}/media")
async def media(request: Request, s: SessionDep, ctx: ContextDep, recording_id: str, me: Principal = Depends(viewer)):
    """The HTML5 player's source: the same ranged, audited media stream as the API's, with the session's
    identity."""
    # A browser plays the working copy when the master is in a format it cannot (CCTV exports).
    m = await recordings.open_media(s, me, ctx, recording_id, request.headers.get("range"), "playable")
    return ranged_response(m.body, m.rng, m.size, m.content_type, etag=m.sha256, filename=m.filename)
