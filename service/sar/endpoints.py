"""Subject access requests. Only SAR handlers act on them; auditors may read them (no other role sees a
requester's personal data)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from service.auth.endpoints import require
from service.auth.schemas import Principal
from service.disclosure.schemas import BundleOut
from service.errors import PARTIAL, problems
from service.paging import Page, PageParams, after_id, cut, page_params
from service.recordings.service import ranged_response
from service.sar import disclose, faces, redaction, service
from service.sar.schemas import (
    CandidateOut,
    CloseIn,
    DiscloseIn,
    DiscloseOut,
    ExtendIn,
    FacesOut,
    InfoReceivedIn,
    InfoRequestIn,
    ItemIn,
    RedactionIn,
    RedactionJobOut,
    SarDisclosureOut,
    SarIn,
    SarItemOut,
    SarOut,
    SarShareOut,
)
from service.timeutil import utcnow

router = APIRouter(tags=["subject access"], responses=problems(401, 403, 422))
handler = require("sar_handler")
reader = require("sar_handler", "auditor")


def _out(sar, items=None, restricted=None, candidates=None, item_count=None) -> SarOut:
    left, overdue = service.standing(sar, utcnow())
    return SarOut.of(sar, items, days_left=left, overdue=overdue, candidates=candidates, item_count=item_count,
                     restricted=restricted)


async def _full(request: Request, sar_id: str, viewer: Principal, *, audit_view: bool = False) -> SarOut:
    sar, items, restricted = await service.get(request.app.state.ctx, sar_id, viewer, audit_view=audit_view)
    return _out(sar, items, restricted)


@router.post("/v1/sars", status_code=201, response_model=SarOut)
async def create(request: Request, body: SarIn, actor: Principal = Depends(handler)):
    sar, candidates, restricted = await service.create(request.app.state.ctx, actor, body)
    return _out(sar, [], restricted, candidates)


@router.get("/v1/sars", response_model=Page[SarOut])
async def search(request: Request, overdue: bool | None = None,
                 status: str | None = Query(None, pattern="^(open|awaiting_information|closed)$"),
                 page: PageParams = Depends(page_params), actor: Principal = Depends(reader)):
    rows = await service.search(request.app.state.ctx, overdue=overdue, status=status, after=after_id(page),
                                limit=page.limit)
    rows, nxt = cut(rows, page, lambda r: [r.id])
    counts = await service.item_counts(request.app.state.ctx, [r.id for r in rows], actor)
    return Page[SarOut](items=[_out(r, item_count=counts.get(r.id, 0)) for r in rows], next_cursor=nxt)


@router.get("/v1/sars/{sar_id}", responses=problems(404), response_model=SarOut)
async def get(request: Request, sar_id: str, actor: Principal = Depends(reader)):
    return await _full(request, sar_id, actor, audit_view=True)


@router.get("/v1/sars/{sar_id}/items/{item_id}", responses=problems(404), response_model=SarItemOut)
async def get_item(request: Request, sar_id: str, item_id: str, actor: Principal = Depends(reader)):
    """One item and its redaction's progress: what a page polls while a redaction runs."""
    return SarItemOut.of(await service.item(request.app.state.ctx, sar_id, item_id, actor))


@router.get("/v1/sars/{sar_id}/items/{item_id}/redacted", response_class=StreamingResponse,
            responses={**PARTIAL, **problems(404, 409, 416)})
async def redacted(request: Request, sar_id: str, item_id: str, actor: Principal = Depends(reader)):
    """The redacted copy, so the handler can check it (the detector misses faces) before disclosing."""
    item, rng, body = await service.open_redacted(request.app.state.ctx, actor, sar_id, item_id,
                                                  request.headers.get("range"))
    return ranged_response(body, rng, item.redacted_size, "video/mp4", etag=item.redacted_sha256,
                           filename=f"{item.id}-redacted.mp4")


@router.get("/v1/sars/{sar_id}/candidates", responses=problems(404), response_model=list[CandidateOut])
async def candidates(request: Request, sar_id: str, actor: Principal = Depends(reader)):
    return [CandidateOut.of(r) for r in await service.candidates(request.app.state.ctx, sar_id, actor)]


@router.post("/v1/sars/{sar_id}/extend", responses=problems(404, 409), response_model=SarOut)
async def extend(request: Request, sar_id: str, body: ExtendIn, actor: Principal = Depends(handler)):
    await service.extend(request.app.state.ctx, actor, sar_id, body)
    return await _full(request, sar_id, actor)


@router.post("/v1/sars/{sar_id}/information-request", responses=problems(404, 409), response_model=SarOut)
async def information_request(request: Request, sar_id: str, body: InfoRequestIn,
                              actor: Principal = Depends(handler)):
    await service.request_information(request.app.state.ctx, actor, sar_id, body.what)
    return await _full(request, sar_id, actor)


@router.post("/v1/sars/{sar_id}/information-received", responses=problems(404, 409), response_model=SarOut)
async def information_received(request: Request, sar_id: str, body: InfoReceivedIn,
                               actor: Principal = Depends(handler)):
    await service.information_received(request.app.state.ctx, actor, sar_id, body.received_at)
    return await _full(request, sar_id, actor)


@router.post("/v1/sars/{sar_id}/items", responses=problems(404, 409, 410), status_code=201, response_model=SarItemOut)
async def add_item(request: Request, sar_id: str, body: ItemIn, actor: Principal = Depends(handler)):
    return SarItemOut.of(await service.add_item(request.app.state.ctx, actor, sar_id, body))


@router.post("/v1/sars/{sar_id}/items/{item_id}/redaction", responses=problems(404, 409, 410), status_code=202, response_model=RedactionJobOut)
async def redact(request: Request, sar_id: str, item_id: str, body: RedactionIn,
                 actor: Principal = Depends(handler)):
    return RedactionJobOut.of(await redaction.request(request.app.state.ctx, actor, sar_id, item_id, body))


@router.post("/v1/sars/{sar_id}/items/{item_id}/faces", responses=problems(404, 409, 410), status_code=202, response_model=FacesOut)
async def find_faces(request: Request, sar_id: str, item_id: str, actor: Principal = Depends(handler)):
    """A job finding the item's face tracks (poll the GET); asking again replaces them when it ends."""
    scan = await faces.request(request.app.state.ctx, actor, sar_id, item_id)
    return FacesOut.of(sar_id, item_id, scan, [])


@router.get("/v1/sars/{sar_id}/items/{item_id}/faces", responses=problems(404), response_model=FacesOut)
async def list_faces(request: Request, sar_id: str, item_id: str, actor: Principal = Depends(reader)):
    scan, tracks = await faces.listing(request.app.state.ctx, actor, sar_id, item_id)
    return FacesOut.of(sar_id, item_id, scan, tracks)


@router.get("/v1/sars/{sar_id}/items/{item_id}/faces/{track_id}/thumbnail", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}, **problems(404)})
async def face_thumbnail(request: Request, sar_id: str, item_id: str, track_id: str,
                         actor: Principal = Depends(reader)):
    """A track's face (audited): for the handler to tick the requester's own."""
    data = await faces.thumbnail(request.app.state.ctx, actor, sar_id, item_id, track_id)
    return Response(data, media_type="image/jpeg",
                    headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})


@router.post("/v1/sars/{sar_id}/disclose", responses=problems(404, 409), status_code=202, response_model=DiscloseOut)
async def disclose_sar(request: Request, sar_id: str, body: DiscloseIn | None = None,
                       actor: Principal = Depends(handler)):
    ctx = request.app.state.ctx
    bundle, share, token = await disclose.disclose(ctx, actor, sar_id, body or DiscloseIn())
    return DiscloseOut(bundle_id=bundle.id, share_id=share.id, status=bundle.status,
                       url=f"{ctx.settings.public_base_url.rstrip('/')}/v1/shared/{token}",
                       expires_at=share.expires_at, max_downloads=share.max_downloads)


@router.get("/v1/sars/{sar_id}/disclosure", responses=problems(404), response_model=SarDisclosureOut)
async def disclosure(request: Request, sar_id: str, _: Principal = Depends(reader)):
    """The latest disclosure's bundle progress and link standing (404 before the first disclosure)."""
    bundle, share, state = await disclose.current(request.app.state.ctx, sar_id)
    return SarDisclosureOut(sar_id=sar_id, bundle=BundleOut.of(bundle), share=SarShareOut.of(share, state))


@router.post("/v1/sars/{sar_id}/close", responses=problems(404, 409), response_model=SarOut)
async def close(request: Request, sar_id: str, body: CloseIn, actor: Principal = Depends(handler)):
    await service.close(request.app.state.ctx, actor, sar_id, body.outcome)
    return await _full(request, sar_id, actor)
