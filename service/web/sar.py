"""Console pages for SAR handlers: the queue by due date, one request (candidates, items, redaction
progress, review, disclosure) and the redaction editor.

Every read and action is the API's own endpoint function (reading a request is audited there as
``sar.viewed``); what is polled every second (an item's redaction, the bundle) uses reads that carry
none of the requester's data, so polling does not fill the audit trail with views.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Depends, Request
from starlette.datastructures import FormData

from service.auth.schemas import Principal
from service.errors import NotFound
from service.recordings import endpoints as recordings_api
from service.sar import endpoints as sar_api
from service.sar.schemas import (
    CloseIn,
    DiscloseIn,
    ExtendIn,
    InfoReceivedIn,
    InfoRequestIn,
    ItemIn,
    RedactionIn,
    SarIn,
)
from service.timeutil import utcnow
from service.web.deps import call_api, form_model, is_htmx, signed_in
from service.web.pageutil import utc_field
from service.web.render import console_router, done, fragment, render

router = console_router()
reader = signed_in(*sar_api.reader.roles)  # auditors may read requests, as in the API; only handlers act
handler = signed_in(*sar_api.handler.roles)

# The queue's status filter; "active" (the default) is everything not closed.
STATUS_FILTERS: dict[str, tuple[str | None, ...]] = {
    "active": ("open", "awaiting_information"), "open": ("open",),
    "awaiting_information": ("awaiting_information",), "closed": ("closed",), "all": (None,)}
QUEUE_PAGES = 20  # x 500 a page: far beyond any force's open requests; the page says when it stops short
REGIMES = {"law_enforcement": "Law enforcement (DPA 2018 Part 3)", "uk_gdpr": "UK GDPR"}
ROW_FIELD = re.compile(r"^(box|mute)-(\d{1,4})-(start_s|end_s|x|y|w|h|follow)$")
BUSY = ("queued", "running")
BUNDLE_BUSY = ("queued", "building")


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v.strip() if isinstance(v, str) else v for k, v in data.items() if v not in ("", None)}


def _ctx(me: Principal) -> dict[str, Any]:
    return {"can_act": me.has("sar_handler"), "regimes": REGIMES, "busy": BUSY, "bundle_busy": BUNDLE_BUSY}


# ---- the queue ----------------------------------------------------------------------------------------

async def _queue(request: Request, me: Principal, status: str, overdue: bool) -> tuple[list[Any], bool]:
    """Every request the filter matches, earliest due first. The API lists by id, so the page collects
    all pages and sorts; a stopped clock (no due date) goes last, then by receipt."""
    rows, more = [], False
    for wanted in STATUS_FILTERS[status]:
        cursor = None
        for _ in range(QUEUE_PAGES):
            page = await call_api(sar_api.search, request, me, limit=500, cursor=cursor,
                                  overdue=True if overdue else None, status=wanted)
            rows += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
        more = more or cursor is not None
    rows.sort(key=lambda r: (r.due_at is None, r.due_at or r.received_at, r.received_at, r.id))
    return rows, more


@router.get("/ui/sar")
async def queue(request: Request, status: str = "active", overdue: str | None = None,
                me: Principal = Depends(reader)):
    status = status if status in STATUS_FILTERS else "active"
    rows, more = await _queue(request, me, status, bool(overdue))
    return render(request, "sar/queue.html", me, title="Subject access requests", rows=rows, more=more,
                  status_filter=status, overdue=bool(overdue), today=utcnow().date().isoformat(), **_ctx(me))


@router.post("/ui/sar")
async def create(request: Request, me: Principal = Depends(handler)):
    f = await request.form()
    query = _clean({"from": utc_field(f.get("query_from")), "to": utc_field(f.get("query_to")),
                    "officer_id": f.get("officer_id"), "device_id": f.get("device_id"),
                    "location": f.get("location")})
    body = form_model(SarIn, {"requester": f.get("requester"), "contact": f.get("contact"),
                              "received_at": utc_field(f.get("received_at")), "description": f.get("description"),
                              "regime": f.get("regime"), "query": query})
    sar = await call_api(sar_api.create, request, me, body=body)
    return done(f"/ui/sar/{sar.id}", f"Request {sar.id} logged: due {sar.due_date}; "
                                     f"{len(sar.candidates or [])} recording(s) found and held.")


# ---- one request ---------------------------------------------------------------------------------------

async def _disclosure(request: Request, me: Principal, sar_id: str) -> Any:
    try:
        return await call_api(sar_api.disclosure, request, me, sar_id=sar_id)
    except NotFound as e:
        if e.slug == "sar-not-disclosed":
            return None
        raise


async def _request_page(request: Request, me: Principal, sar_id: str, **extra: Any):
    sar = await call_api(sar_api.get, request, me, sar_id=sar_id)  # audited: sar.viewed
    candidates = await call_api(sar_api.candidates, request, me, sar_id=sar_id)
    disc = await _disclosure(request, me, sar_id) if sar.bundle_id else None
    recordings = {c.id: c for c in candidates}
    chosen = {(i.recording_id) for i in sar.items}
    return render(request, "sar/request.html", me, title=f"Subject access request {sar.id}", sar=sar,
                  candidates=candidates, recordings=recordings, chosen=chosen, disc=disc,
                  now_local=utcnow().strftime("%Y-%m-%dT%H:%M:%S"), **_ctx(me), **extra)


@router.get("/ui/sar/{sar_id}")
async def request_page(request: Request, sar_id: str, me: Principal = Depends(reader)):
    return await _request_page(request, me, sar_id)


@router.post("/ui/sar/{sar_id}/items")
async def add_item(request: Request, sar_id: str, me: Principal = Depends(handler)):
    body = form_model(ItemIn, dict(await request.form()))
    item = await call_api(sar_api.add_item, request, me, sar_id=sar_id, body=body)
    return done(f"/ui/sar/{sar_id}#item-{item.id}", f"Recording {item.recording_id} added as item {item.id}.")


@router.post("/ui/sar/{sar_id}/extend")
async def extend(request: Request, sar_id: str, me: Principal = Depends(handler)):
    body = form_model(ExtendIn, dict(await request.form()))
    sar = await call_api(sar_api.extend, request, me, sar_id=sar_id, body=body)
    return done(f"/ui/sar/{sar_id}", f"Extended by {body.months} month(s): now due {sar.due_date}.")


@router.post("/ui/sar/{sar_id}/information-request")
async def information_request(request: Request, sar_id: str, me: Principal = Depends(handler)):
    body = form_model(InfoRequestIn, dict(await request.form()))
    await call_api(sar_api.information_request, request, me, sar_id=sar_id, body=body)
    return done(f"/ui/sar/{sar_id}", "Information requested: the clock is stopped until it arrives.")


@router.post("/ui/sar/{sar_id}/information-received")
async def information_received(request: Request, sar_id: str, me: Principal = Depends(handler)):
    f = await request.form()
    body = form_model(InfoReceivedIn, {"received_at": utc_field(f.get("received_at"))})
    sar = await call_api(sar_api.information_received, request, me, sar_id=sar_id, body=body)
    return done(f"/ui/sar/{sar_id}", f"Information received: the clock restarted; now due {sar.due_date}.")


@router.post("/ui/sar/{sar_id}/close")
async def close(request: Request, sar_id: str, me: Principal = Depends(handler)):
    body = form_model(CloseIn, dict(await request.form()))
    await call_api(sar_api.close, request, me, sar_id=sar_id, body=body)
    return done(f"/ui/sar/{sar_id}", "Request closed; its hold on the footage is released.")


# ---- disclosure ----------------------------------------------------------------------------------------

@router.post("/ui/sar/{sar_id}/disclose")
async def disclose(request: Request, sar_id: str, me: Principal = Depends(handler)):
    """The link exists only in this answer (the server keeps its hash): shown once, never redirected."""
    f = await request.form()
    body = form_model(DiscloseIn, {"expires_at": utc_field(f.get("expires_at")), "max_downloads": f.get("max_downloads")})
    out = await call_api(sar_api.disclose_sar, request, me, sar_id=sar_id, body=body)
    if is_htmx(request):
        disc = await _disclosure(request, me, sar_id)
        return fragment(request, "sar/_disclosure_result.html", sar_id=sar_id, disc=disc, link=out.url, **_ctx(me))
    return await _request_page(request, me, sar_id, link=out.url)


@router.get("/ui/sar/{sar_id}/disclosure")
async def disclosure_status(request: Request, sar_id: str, me: Principal = Depends(reader)):
    """The polled fragment: the bundle's progress and the link's standing."""
    disc = await call_api(sar_api.disclosure, request, me, sar_id=sar_id)
    return fragment(request, "sar/_disclosure_status.html", sar_id=sar_id, disc=disc, **_ctx(me))


# ---- items: redaction progress, review, the editor -------------------------------------------------------

@router.get("/ui/sar/{sar_id}/items/{item_id}/redaction")
async def redaction_status(request: Request, sar_id: str, item_id: str, editable: int = 1,
                           me: Principal = Depends(reader)):
    """The polled fragment: an item's redaction status, and once ready its review player and log."""
    item = await call_api(sar_api.get_item, request, me, sar_id=sar_id, item_id=item_id)
    return fragment(request, "sar/_redaction.html", sar_id=sar_id, item=item, editable=bool(editable), **_ctx(me))


@router.get("/ui/sar/{sar_id}/items/{item_id}/redacted")
async def redacted(request: Request, sar_id: str, item_id: str, me: Principal = Depends(reader)):
    """The review player's source: the API's ranged, audited stream of the redacted copy."""
    return await call_api(sar_api.redacted, request, me, sar_id=sar_id, item_id=item_id)


@router.get("/ui/sar/{sar_id}/items/{item_id}/redact")
async def editor(request: Request, sar_id: str, item_id: str, me: Principal = Depends(handler)):
    item = await call_api(sar_api.get_item, request, me, sar_id=sar_id, item_id=item_id)
    rec = await call_api(recordings_api.get_recording, request, me, recording_id=item.recording_id)
    media = rec.media
    frame = (media.width, media.height)
    if (media.rotation or 0) % 180 == 90:  # the picture as shown (and as the API measures boxes)
        frame = frame[::-1]
    params = item.redaction.params or {"auto_faces": True, "boxes": [], "mute": []}
    clip = (item.clip_start_s or 0.0, item.clip_end_s or media.duration_s)
    faces = await call_api(sar_api.list_faces, request, me, sar_id=sar_id, item_id=item_id)
    return render(request, "sar/editor.html", me, title=f"Redact item {item.id}", sar_id=sar_id, item=item, rec=rec,
                  frame=frame, clip=clip, params=params, faces=faces, keep=set(params.get("keep_tracks") or ()),
                  **_ctx(me))


@router.post("/ui/sar/{sar_id}/items/{item_id}/faces")
async def find_faces(request: Request, sar_id: str, item_id: str, me: Principal = Depends(handler)):
    await call_api(sar_api.find_faces, request, me, sar_id=sar_id, item_id=item_id)
    return done(f"/ui/sar/{sar_id}/items/{item_id}/redact",
                f"Finding the faces in item {item_id}: reload this page when it has finished.")


@router.get("/ui/sar/{sar_id}/items/{item_id}/faces/{track_id}/thumbnail")
async def face_thumbnail(request: Request, sar_id: str, item_id: str, track_id: str,
                         me: Principal = Depends(reader)):
    """A track's face through the API (SAR roles only, audited)."""
    return await call_api(sar_api.face_thumbnail, request, me, sar_id=sar_id, item_id=item_id, track_id=track_id)


def _plan(form: FormData) -> RedactionIn:
    """The editor's indexed rows (box-0-x, mute-3-end_s, …) as the API's RedactionIn; an all-blank row
    is a row the handler left empty, not an error."""
    rows: dict[str, dict[int, dict[str, str]]] = {"box": {}, "mute": {}}
    for key, value in form.multi_items():
        m = ROW_FIELD.match(key)
        if m and isinstance(value, str):
            rows[m[1]].setdefault(int(m[2]), {})[m[3]] = value.strip()

    def listed(kind: str) -> list[dict[str, str]]:
        return [{k: v for k, v in row.items() if v} for _, row in sorted(rows[kind].items()) if any(row.values())]

    return form_model(RedactionIn, {"auto_faces": form.get("auto_faces") == "on", "boxes": listed("box"),
                                    "mute": listed("mute"),
                                    "keep_tracks": [v for v in form.getlist("keep_tracks") if isinstance(v, str)]})


@router.post("/ui/sar/{sar_id}/items/{item_id}/redaction")
async def redact(request: Request, sar_id: str, item_id: str, me: Principal = Depends(handler)):
    plan = _plan(await request.form())
    await call_api(sar_api.redact, request, me, sar_id=sar_id, item_id=item_id, body=plan)
    faces = "faces found automatically, " if plan.auto_faces else ""
    return done(f"/ui/sar/{sar_id}#item-{item_id}",
                f"Redaction of item {item_id} queued ({faces}{len(plan.boxes)} box(es), "
                f"{len(plan.mute)} muted range(s)). Review the copy when it is ready.")
