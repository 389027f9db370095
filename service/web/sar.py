"""Console pages for SAR handlers: the queue by due date (paged, ordered by the database), one request (candidates, items, redaction
progress, review, disclosure) and the redaction editor.

Each page calls the SAR services as the signed-in person, in the request's one transaction (reading a
request is audited there as ``sar.viewed``); what is polled every second (an item's redaction, the bundle) uses reads that carry
none of the requester's data, so polling does not fill the audit trail with views.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from service.auth.roles import SAR_HANDLERS, SAR_READERS
from service.auth.schemas import Principal
from service.deps import ContextDep, SessionDep
from service.disclosure.models import BundleStatus
from service.disclosure.schemas import BundleOut
from service.disclosure.shares import link_url
from service.errors import NotFound
from service.http_range import ranged_response
from service.paging import page_params
from service.recordings import service as recordings
from service.sar import disclose as sar_disclose
from service.sar import faces as faces_service
from service.sar import redaction, service
from service.sar.models import RedactionStatus, Regime, SarSort, SarStatus
from service.sar.schemas import (
    CandidateOut,
    CloseIn,
    DiscloseIn,
    ExtendIn,
    FaceBoxesOut,
    FacesOut,
    InfoReceivedIn,
    InfoRequestIn,
    ItemIn,
    RedactionIn,
    SarDisclosureOut,
    SarIn,
    SarItemOut,
    SarShareOut,
)
from service.timeutil import utcnow
from service.web.deps import form_model, is_htmx, signed_in
from service.web.pageutil import limit_of, next_url, utc_field, with_numbers
from service.web.render import console_router, done, fragment, render

router = console_router()
reader = signed_in(*SAR_READERS)  # auditors may read requests, as in the API; only handlers act
handler = signed_in(*SAR_HANDLERS)

# The queue's status filter; "active" (the default) is everything not closed.
STATUS_FILTERS: dict[str, SarStatus | None] = {
    "active": None, "open": SarStatus.OPEN, "awaiting_information": SarStatus.AWAITING_INFORMATION,
    "closed": SarStatus.CLOSED, "all": None}
REGIMES = {Regime.LAW_ENFORCEMENT: "Law enforcement (DPA 2018 Part 3)", Regime.UK_GDPR: "UK GDPR"}
ROW_FIELD = re.compile(r"^(box|mute)-(\d{1,4})-(start_s|end_s|x|y|w|h|follow)$")
BUSY = (RedactionStatus.QUEUED, RedactionStatus.RUNNING)
BUNDLE_BUSY = (BundleStatus.QUEUED, BundleStatus.BUILDING)


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v.strip() if isinstance(v, str) else v for k, v in data.items() if v not in ("", None)}


def _ctx(me: Principal) -> dict[str, Any]:
    return {"can_act": me.has(*SAR_HANDLERS), "regimes": REGIMES, "busy": BUSY, "bundle_busy": BUNDLE_BUSY}


# ---- the queue ----------------------------------------------------------------------------------------

@router.get("/ui/sar")
async def queue(request: Request, s: SessionDep, status: str = "active", overdue: str | None = None,
                cursor: str | None = None, limit: str | None = None, me: Principal = Depends(reader)):
    """The queue, earliest due first (a stopped clock last), a page at a time: the database orders it."""
    status = status if status in STATUS_FILTERS else "active"
    page = await service.search(s, me, page_params(limit_of(limit), cursor), overdue=True if overdue else None,
                                status=STATUS_FILTERS[status], active=status == "active", sort=SarSort.DUE)
    nxt = next_url("/ui/sar", {"status": status, "overdue": "1" if overdue else None}, page.next_cursor)
    return render(request, "sar/queue.html", me, title="Subject access requests", rows=page.items, next_url=nxt,
                  status_filter=status, overdue=bool(overdue), today=utcnow().date().isoformat(), **_ctx(me))


@router.post("/ui/sar")
async def create(request: Request, s: SessionDep, ctx: ContextDep, me: Principal = Depends(handler)):
    f = await request.form()
    query = _clean({"from": utc_field(f.get("query_from")), "to": utc_field(f.get("query_to")),
                    "officer_id": f.get("officer_id"), "device_id": f.get("device_id"),
                    "location": f.get("location")})
    body = form_model(SarIn, {"requester": f.get("requester"), "contact": f.get("contact"),
                              "received_at": utc_field(f.get("received_at")), "description": f.get("description"),
                              "regime": f.get("regime"), "query": query})
    sar, candidates, _ = await service.create(s, me, ctx, body)
    return done(f"/ui/sar/{sar.id}", f"Request {sar.id} logged: due {sar.due_date}; "
                                     f"{len(candidates)} recording(s) found and held.")


# ---- one request ---------------------------------------------------------------------------------------

async def _current(s: AsyncSession, me: Principal, sar_id: str) -> SarDisclosureOut:
    bundle, share, state = await sar_disclose.current(s, me, sar_id)
    return SarDisclosureOut(sar_id=sar_id, bundle=BundleOut.of(bundle), share=SarShareOut.of(share, state))


async def _disclosure(s: AsyncSession, me: Principal, sar_id: str) -> SarDisclosureOut | None:
    try:
        return await _current(s, me, sar_id)
    except NotFound as e:
        if e.slug == "sar-not-disclosed":
            return None
        raise


async def _request_page(request: Request, s: AsyncSession, me: Principal, sar_id: str, **extra: Any):
    sar = await service.view(s, me, sar_id, audit_view=True)  # audited: sar.viewed
    candidates = [CandidateOut.of(r) for r in await service.candidates(s, me, sar_id)]
    disc = await _disclosure(s, me, sar_id) if sar.bundle_id else None
    recordings = {c.id: c for c in candidates}
    chosen = {(i.recording_id) for i in sar.items}
    return render(request, "sar/request.html", me, title=f"Subject access request {sar.id}", sar=sar,
                  candidates=candidates, recordings=recordings, chosen=chosen, disc=disc,
                  now_local=utcnow().strftime("%Y-%m-%dT%H:%M:%S"), **_ctx(me), **extra)


@router.get("/ui/sar/{sar_id}")
async def request_page(request: Request, s: SessionDep, sar_id: str, me: Principal = Depends(reader)):
    return await _request_page(request, s, me, sar_id)


@router.post("/ui/sar/{sar_id}/items")
async def add_item(request: Request, s: SessionDep, ctx: ContextDep, sar_id: str, me: Principal = Depends(handler)):
    body = form_model(ItemIn, with_numbers(dict(await request.form())))
    item = await service.add_item(s, me, ctx, sar_id, body)
    return done(f"/ui/sar/{sar_id}#item-{item.id}", f"Recording {item.recording_id} added as item {item.id}.")


@router.post("/ui/sar/{sar_id}/extend")
async def extend(request: Request, s: SessionDep, ctx: ContextDep, sar_id: str, me: Principal = Depends(handler)):
    body = form_model(ExtendIn, dict(await request.form()))
    sar = await service.extend(s, me, ctx, sar_id, body)
    return done(f"/ui/sar/{sar_id}", f"Extended by {body.months} month(s): now due {sar.due_date}.")


@router.post("/ui/sar/{sar_id}/information-request")
async def information_request(request: Request, s: SessionDep, sar_id: str, me: Principal = Depends(handler)):
    body = form_model(InfoRequestIn, dict(await request.form()))
    await service.request_information(s, me, sar_id, body.what)
    return done(f"/ui/sar/{sar_id}", "Information requested: the clock is stopped until it arrives.")


@router.post("/ui/sar/{sar_id}/information-received")
async def information_received(request: Request, s: SessionDep, ctx: ContextDep, sar_id: str,
                               me: Principal = Depends(handler)):
    f = await request.form()
    body = form_model(InfoReceivedIn, {"received_at": utc_field(f.get("received_at"))})
    sar = await service.information_received(s, me, ctx, sar_id, body.received_at)
    return done(f"/ui/sar/{sar_id}", f"Information received: the clock restarted; now due {sar.due_date}.")


@router.post("/ui/sar/{sar_id}/close")
async def close(request: Request, s: SessionDep, ctx: ContextDep, sar_id: str, me: Principal = Depends(handler)):
    body = form_model(CloseIn, dict(await request.form()))
    await service.close(s, me, ctx, sar_id, body.outcome)
    return done(f"/ui/sar/{sar_id}", "Request closed; its hold on the footage is released.")


# ---- disclosure ----------------------------------------------------------------------------------------

@router.post("/ui/sar/{sar_id}/disclose")
async def disclose(request: Request, s: SessionDep, ctx: ContextDep, sar_id: str, me: Principal = Depends(handler)):
    """The link exists only in this answer (the server keeps its hash): shown once, never redirected."""
    f = await request.form()
    body = form_model(DiscloseIn, {"expires_at": utc_field(f.get("expires_at")), "max_downloads": f.get("max_downloads")})
    _, _, token = await sar_disclose.disclose(s, me, ctx, sar_id, body)
    url = link_url(ctx.settings.public_base_url, token)
    if is_htmx(request):
        disc = await _disclosure(s, me, sar_id)
        return fragment(request, "sar/_disclosure_result.html", sar_id=sar_id, disc=disc, link=url, **_ctx(me))
    return await _request_page(request, s, me, sar_id, link=url)


@router.get("/ui/sar/{sar_id}/disclosure")
async def disclosure_status(request: Request, s: SessionDep, sar_id: str, me: Principal = Depends(reader)):
    """The polled fragment: the bundle's progress and the link's standing."""
    disc = await _current(s, me, sar_id)
    return fragment(request, "sar/_disclosure_status.html", sar_id=sar_id, disc=disc, **_ctx(me))


# ---- items: redaction progress, review, the editor -------------------------------------------------------

@router.get("/ui/sar/{sar_id}/items/{item_id}/redaction")
async def redaction_status(request: Request, s: SessionDep, sar_id: str, item_id: str, editable: int = 1,
                           me: Principal = Depends(reader)):
    """The polled fragment: an item's redaction status, and once ready its review player and log."""
    item = SarItemOut.of(await service.item(s, me, sar_id, item_id))
    return fragment(request, "sar/_redaction.html", sar_id=sar_id, item=item, editable=bool(editable), **_ctx(me))


@router.get("/ui/sar/{sar_id}/items/{item_id}/redacted")
async def redacted(request: Request, s: SessionDep, ctx: ContextDep, sar_id: str, item_id: str,
                   me: Principal = Depends(reader)):
    """The review player's source: the ranged, audited stream of the redacted copy."""
    item, rng = await service.open_redacted(s, me, sar_id, item_id, request.headers.get("range"))
    return ranged_response(ctx.store.read(item.redacted_key, rng.start, rng.end), rng, item.redacted_size,
                           "video/mp4", etag=item.redacted_sha256, filename=f"{item.id}-redacted.mp4")


@router.get("/ui/sar/{sar_id}/items/{item_id}/redact")
async def editor(request: Request, s: SessionDep, sar_id: str, item_id: str, me: Principal = Depends(handler)):
    scan, tracks = await faces_service.listing(s, me, sar_id, item_id)
    faces = FacesOut.of(sar_id, item_id, scan, tracks)
    item = SarItemOut.of(await service.item(s, me, sar_id, item_id))
    rec = await recordings.view(s, me, item.recording_id)
    media = rec.media
    frame = (media.width, media.height)
    if (media.rotation or 0) % 180 == 90:  # the picture as shown (and as the API measures boxes)
        frame = frame[::-1]
    params = item.redaction.params or {"auto_faces": True, "boxes": [], "mute": []}
    clip = (item.clip_start_s or 0.0, item.clip_end_s or media.duration_s)
    return render(request, "sar/editor.html", me, title=f"Redact item {item.id}", sar_id=sar_id, item=item, rec=rec,
                  frame=frame, clip=clip, params=params, faces=faces, keep=set(params.get("keep_tracks") or ()),
                  **_ctx(me))


@router.post("/ui/sar/{sar_id}/items/{item_id}/faces")
async def find_faces(request: Request, s: SessionDep, ctx: ContextDep, sar_id: str, item_id: str,
                     me: Principal = Depends(handler)):
    await faces_service.request(s, me, ctx, sar_id, item_id)
    return done(f"/ui/sar/{sar_id}/items/{item_id}/redact",
                f"Finding the faces in item {item_id}: reload this page when it has finished.")


@router.get("/ui/sar/{sar_id}/items/{item_id}/faces/{track_id}/thumbnail")
async def face_thumbnail(request: Request, s: SessionDep, ctx: ContextDep, sar_id: str, item_id: str, track_id: str,
                         me: Principal = Depends(reader)):
    """A track's face, as the API serves it (SAR roles only, audited)."""
    data = await faces_service.thumbnail(s, me, ctx, sar_id, item_id, track_id)
    return Response(data, media_type="image/jpeg",
                    headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})


@router.get("/ui/sar/{sar_id}/items/{item_id}/faces/{track_id}/boxes", response_model=FaceBoxesOut)
async def face_boxes(request: Request, s: SessionDep, sar_id: str, item_id: str, track_id: str,
                     me: Principal = Depends(reader)):
    """Where a track's face is, as the API serves it: what overlay.js and review.js draw over the players."""
    return FaceBoxesOut.of(*await faces_service.boxes(s, me, sar_id, item_id, track_id))


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
async def redact(request: Request, s: SessionDep, ctx: ContextDep, sar_id: str, item_id: str,
                 me: Principal = Depends(handler)):
    plan = _plan(await request.form())
    await redaction.request(s, me, ctx, sar_id, item_id, plan)
    faces = "faces found automatically, " if plan.auto_faces else ""
    return done(f"/ui/sar/{sar_id}#item-{item_id}",
                f"Redaction of item {item_id} queued ({faces}{len(plan.boxes)} box(es), "
                f"{len(plan.mute)} muted range(s)). Review the copy when it is ready.")
