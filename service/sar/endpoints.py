"""Subject access requests. Only SAR handlers act on them; auditors may read them (no other role sees a
requester's personal data)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from service.auth.endpoints import guard
from service.auth.roles import SAR_HANDLERS, SAR_READERS
from service.deps import ContextDep, PrincipalDep, SessionDep
from service.disclosure.schemas import BundleOut
from service.disclosure.shares import link_url
from service.errors import PARTIAL, problems
from service.http_range import ranged_response
from service.paging import Page, PageParams, page_params
from service.sar import disclose, faces, redaction, service
from service.sar.models import SarSort, SarStatus
from service.sar.schemas import (
    CandidateOut,
    CloseIn,
    DiscloseIn,
    DiscloseOut,
    ExtendIn,
    FaceBoxesOut,
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

# Guards: 401/403 before 422 (the services check the same roles themselves).
router = APIRouter(tags=["subject access"], responses=problems(401, 403, 422), dependencies=[guard(*SAR_READERS)])
HANDLERS = [guard(*SAR_HANDLERS)]
PageDep = Annotated[PageParams, Depends(page_params)]


@router.post("/v1/sars", dependencies=HANDLERS, status_code=201, response_model=SarOut)
async def create(body: SarIn, actor: PrincipalDep, s: SessionDep, ctx: ContextDep):
    sar, candidates, restricted = await service.create(s, actor, ctx, body)
    return service.out(sar, [], restricted, candidates)


@router.get("/v1/sars", response_model=Page[SarOut])
async def search(actor: PrincipalDep, s: SessionDep, page: PageDep, overdue: bool | None = None,
                 status: str | None = Query(None, pattern="^(open|awaiting_information|closed)$"),
                 sort: str = Query("id", pattern="^(id|due)$",
                                   description="id: the order requests were logged; due: earliest due first, "
                                               "requests with a stopped clock (no due date) last")):
    return await service.search(s, actor, page, overdue=overdue, status=SarStatus(status) if status else None,
                                sort=SarSort(sort))


@router.get("/v1/sars/{sar_id}", responses=problems(404), response_model=SarOut)
async def get(sar_id: str, actor: PrincipalDep, s: SessionDep):
    return await service.view(s, actor, sar_id, audit_view=True)


@router.get("/v1/sars/{sar_id}/items/{item_id}", responses=problems(404), response_model=SarItemOut)
async def get_item(sar_id: str, item_id: str, actor: PrincipalDep, s: SessionDep):
    """One item and its redaction's progress: what a page polls while a redaction runs."""
    return SarItemOut.of(await service.item(s, actor, sar_id, item_id))


@router.get("/v1/sars/{sar_id}/items/{item_id}/redacted", response_class=StreamingResponse,
            responses={**PARTIAL, **problems(404, 409, 416)})
async def redacted(request: Request, sar_id: str, item_id: str, actor: PrincipalDep, s: SessionDep,
                   ctx: ContextDep):
    """The redacted copy, so the handler can check it (the detector misses faces) before disclosing."""
    item, rng = await service.open_redacted(s, actor, sar_id, item_id, request.headers.get("range"))
    return ranged_response(ctx.store.read(item.redacted_key, rng.start, rng.end), rng, item.redacted_size,
                           "video/mp4", etag=item.redacted_sha256, filename=f"{item.id}-redacted.mp4")


@router.get("/v1/sars/{sar_id}/candidates", responses=problems(404), response_model=list[CandidateOut])
async def candidates(sar_id: str, actor: PrincipalDep, s: SessionDep):
    return [CandidateOut.of(r) for r in await service.candidates(s, actor, sar_id)]


@router.post("/v1/sars/{sar_id}/extend", dependencies=HANDLERS, responses=problems(404, 409), response_model=SarOut)
async def extend(sar_id: str, body: ExtendIn, actor: PrincipalDep, s: SessionDep, ctx: ContextDep):
    await service.extend(s, actor, ctx, sar_id, body)
    return await service.view(s, actor, sar_id)


@router.post("/v1/sars/{sar_id}/information-request", dependencies=HANDLERS, responses=problems(404, 409), response_model=SarOut)
async def information_request(sar_id: str, body: InfoRequestIn, actor: PrincipalDep, s: SessionDep):
    await service.request_information(s, actor, sar_id, body.what)
    return await service.view(s, actor, sar_id)


@router.post("/v1/sars/{sar_id}/information-received", dependencies=HANDLERS, responses=problems(404, 409), response_model=SarOut)
async def information_received(sar_id: str, body: InfoReceivedIn, actor: PrincipalDep, s: SessionDep,
                               ctx: ContextDep):
    await service.information_received(s, actor, ctx, sar_id, body.received_at)
    return await service.view(s, actor, sar_id)


@router.post("/v1/sars/{sar_id}/items", dependencies=HANDLERS, responses=problems(404, 409, 410), status_code=201, response_model=SarItemOut)
async def add_item(sar_id: str, body: ItemIn, actor: PrincipalDep, s: SessionDep, ctx: ContextDep):
    return SarItemOut.of(await service.add_item(s, actor, ctx, sar_id, body))


@router.post("/v1/sars/{sar_id}/items/{item_id}/redaction", dependencies=HANDLERS, responses=problems(404, 409, 410), status_code=202, response_model=RedactionJobOut)
async def redact(sar_id: str, item_id: str, body: RedactionIn, actor: PrincipalDep, s: SessionDep, ctx: ContextDep):
    return RedactionJobOut.of(await redaction.request(s, actor, ctx, sar_id, item_id, body))


@router.post("/v1/sars/{sar_id}/items/{item_id}/faces", dependencies=HANDLERS, responses=problems(404, 409, 410), status_code=202, response_model=FacesOut)
async def find_faces(sar_id: str, item_id: str, actor: PrincipalDep, s: SessionDep, ctx: ContextDep):
    """A job finding the item's face tracks (poll the GET); asking again replaces them when it ends."""
    scan = await faces.request(s, actor, ctx, sar_id, item_id)
    return FacesOut.of(sar_id, item_id, scan, [])


@router.get("/v1/sars/{sar_id}/items/{item_id}/faces", responses=problems(404), response_model=FacesOut)
async def list_faces(sar_id: str, item_id: str, actor: PrincipalDep, s: SessionDep):
    scan, tracks = await faces.listing(s, actor, sar_id, item_id)
    return FacesOut.of(sar_id, item_id, scan, tracks)


@router.get("/v1/sars/{sar_id}/items/{item_id}/faces/{track_id}/thumbnail", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}, **problems(404)})
async def face_thumbnail(sar_id: str, item_id: str, track_id: str, actor: PrincipalDep, s: SessionDep,
                         ctx: ContextDep):
    """A track's face (audited): for the handler to tick the requester's own."""
    data = await faces.thumbnail(s, actor, ctx, sar_id, item_id, track_id)
    return Response(data, media_type="image/jpeg",
                    headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})


@router.get("/v1/sars/{sar_id}/items/{item_id}/faces/{track_id}/boxes", responses=problems(404),
            response_model=FaceBoxesOut)
async def face_boxes(sar_id: str, item_id: str, track_id: str, actor: PrincipalDep, s: SessionDep):
    """Where a track's face is, frame by frame: for drawing it over the player."""
    return FaceBoxesOut.of(*await faces.boxes(s, actor, sar_id, item_id, track_id))


@router.post("/v1/sars/{sar_id}/disclose", dependencies=HANDLERS, responses=problems(404, 409), status_code=202, response_model=DiscloseOut)
async def disclose_sar(sar_id: str, actor: PrincipalDep, s: SessionDep, ctx: ContextDep,
                       body: DiscloseIn | None = None):
    bundle, share, token = await disclose.disclose(s, actor, ctx, sar_id, body or DiscloseIn())
    return DiscloseOut(bundle_id=bundle.id, share_id=share.id, status=bundle.status, url=link_url(ctx.settings.public_base_url, token),
                       expires_at=share.expires_at, max_downloads=share.max_downloads)


@router.get("/v1/sars/{sar_id}/disclosure", responses=problems(404), response_model=SarDisclosureOut)
async def disclosure(sar_id: str, actor: PrincipalDep, s: SessionDep):
    """The latest disclosure's bundle progress and link standing (404 before the first disclosure)."""
    bundle, share, state = await disclose.current(s, actor, sar_id)
    return SarDisclosureOut(sar_id=sar_id, bundle=BundleOut.of(bundle), share=SarShareOut.of(share, state))


@router.post("/v1/sars/{sar_id}/close", dependencies=HANDLERS, responses=problems(404, 409), response_model=SarOut)
async def close(sar_id: str, body: CloseIn, actor: PrincipalDep, s: SessionDep, ctx: ContextDep):
    await service.close(s, actor, ctx, sar_id, body.outcome)
    return await service.view(s, actor, sar_id)
