"""CPS cases, exhibits, bundles and share links over HTTP: each endpoint hands the request's session and
the caller to one service function (which checks the caller's roles) and turns its answer into JSON."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import anyio
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from service.auth.endpoints import client_ip, guard
from service.auth.roles import (
    CASE_OUTCOME_RECORDERS,
    CASE_READERS,
    DISCLOSURE_STAFF,
    SAR_HANDLERS,
    SUPERVISORS,
)
from service.db import transaction
from service.deps import ContextDep, PrincipalDep, SessionDep
from service.disclosure import bundles, listing, outcomes, receipts, service, shares
from service.disclosure.models import CaseStatus
from service.disclosure.schemas import (
    BundleOut,
    CaseIn,
    CaseOut,
    CaseSummaryOut,
    ItemIn,
    ItemOut,
    MarkOut,
    OutcomeIn,
    ReasonIn,
    ReceiptIn,
    ReceiptOut,
    ShareDetailOut,
    ShareIn,
    ShareInfoOut,
    ShareOut,
)
from service.errors import PARTIAL, Problem, problem_response, problems
from service.http_range import ranged_response
from service.paging import Page, PageParams, page_params

router = APIRouter(tags=["disclosure"], responses=problems(401, 403, 422))
# Guards: 401/403 before 422 (the services check the same roles themselves, per object).
STAFF = [guard(*DISCLOSURE_STAFF)]
SHARERS = [guard(*DISCLOSURE_STAFF, *SAR_HANDLERS)]  # a SAR's link is its handlers'
MARKERS = [guard(*SUPERVISORS)]
READERS = [guard(*CASE_READERS)]  # supervisors read and list cases too (they review decided cases' exhibits)
OUTCOMES = [guard(*CASE_OUTCOME_RECORDERS)]
PageDep = Annotated[PageParams, Depends(page_params)]


@router.post("/v1/cases", dependencies=STAFF, responses=problems(409), status_code=201, response_model=CaseOut)
async def create_case(body: CaseIn, actor: PrincipalDep, s: SessionDep, ctx: ContextDep):
    return CaseOut.of(await service.create_case(s, actor, ctx, body), [])


@router.get("/v1/cases", dependencies=READERS, response_model=Page[CaseSummaryOut])
async def list_cases(actor: PrincipalDep, s: SessionDep, page: PageDep,
                     status: str | None = Query(None, pattern="^(open|closed)$")):
    """Newest first; each with its number of exhibits (``GET /v1/cases/{id}`` lists them)."""
    return await listing.list_cases(s, actor, page, status=CaseStatus(status) if status else None)


@router.get("/v1/cases/{case_id}", dependencies=READERS, responses=problems(404), response_model=CaseOut)
async def get_case(case_id: str, actor: PrincipalDep, s: SessionDep, ctx: ContextDep):
    return await listing.case_view(s, actor, case_id, ctx)


@router.post("/v1/cases/{case_id}/outcome", dependencies=OUTCOMES, responses=problems(404), response_model=CaseOut)
async def record_outcome(case_id: str, body: OutcomeIn, actor: PrincipalDep, s: SessionDep, ctx: ContextDep):
    """Record (or correct) the outcome: the exhibits then follow ``case_outcomes`` in the retention policy."""
    await outcomes.record_outcome(s, actor, ctx, case_id, body)
    return await listing.case_view(s, actor, case_id, ctx)


@router.post("/v1/cases/{case_id}/items", dependencies=STAFF, responses=problems(404, 409, 410), status_code=201,
             response_model=ItemOut)
async def add_item(case_id: str, body: ItemIn, actor: PrincipalDep, s: SessionDep, ctx: ContextDep):
    return ItemOut.of(*await service.add_item(s, actor, ctx, case_id, body))


@router.post("/v1/cases/{case_id}/close", dependencies=STAFF, responses=problems(404, 409), response_model=CaseOut)
async def close_case(case_id: str, body: ReasonIn, actor: PrincipalDep, s: SessionDep, ctx: ContextDep):
    await service.close_case(s, actor, ctx, case_id, body.reason)
    return await listing.case_view(s, actor, case_id, ctx)


@router.post("/v1/recordings/{recording_id}/do-not-disclose", dependencies=MARKERS, responses=problems(404, 409, 410), status_code=201,
             response_model=MarkOut)
async def mark(recording_id: str, body: ReasonIn, actor: PrincipalDep, s: SessionDep):
    return MarkOut.of(await service.mark_do_not_disclose(s, actor, recording_id, body.reason))


@router.delete("/v1/recordings/{recording_id}/do-not-disclose", dependencies=MARKERS, responses=problems(404, 409, 410),
               status_code=204)
async def lift(recording_id: str, actor: PrincipalDep, s: SessionDep, body: ReasonIn = Body(...)):
    await service.lift_do_not_disclose(s, actor, recording_id, body.reason)


@router.post("/v1/cases/{case_id}/bundles", dependencies=STAFF, responses=problems(404, 409), status_code=202, response_model=BundleOut)
async def request_bundle(case_id: str, actor: PrincipalDep, s: SessionDep, ctx: ContextDep):
    return BundleOut.of(await bundles.request_bundle(s, actor, ctx, case_id))


@router.get("/v1/cases/{case_id}/bundles", dependencies=STAFF, responses=problems(404), response_model=Page[BundleOut])
async def list_case_bundles(case_id: str, actor: PrincipalDep, s: SessionDep, page: PageDep):
    """The bundles built (or being built) from a case, newest first."""
    return await listing.case_bundles(s, actor, case_id, page)


@router.get("/v1/bundles/{bundle_id}", dependencies=STAFF, responses=problems(404), response_model=BundleOut)
async def get_bundle(bundle_id: str, actor: PrincipalDep, s: SessionDep):
    return await listing.get_bundle(s, actor, bundle_id)


@router.get("/v1/bundles/{bundle_id}/download", dependencies=STAFF, response_class=StreamingResponse,
            responses={**PARTIAL, **problems(404, 409, 416)})
async def download_bundle(request: Request, bundle_id: str, actor: PrincipalDep, s: SessionDep, ctx: ContextDep):
    b, rng = await bundles.download(s, actor, bundle_id, request.headers.get("range"))
    return ranged_response(ctx.store.read(b.storage_key, rng.start, rng.end), rng, b.size_bytes,
                           "application/zip", etag=b.sha256, filename=f"{b.id}.zip")


@router.post("/v1/bundles/{bundle_id}/shares", dependencies=SHARERS, responses=problems(404, 409), status_code=201, response_model=ShareOut)
async def create_share(bundle_id: str, body: ShareIn, actor: PrincipalDep, s: SessionDep, ctx: ContextDep):
    share, token = await shares.create_share(s, actor, bundle_id, body.recipient, body.expires_at, body.max_downloads)
    return ShareOut.of(share, shares.link_url(ctx.settings.public_base_url, token))


@router.get("/v1/bundles/{bundle_id}/shares", dependencies=STAFF, responses=problems(404), response_model=Page[ShareInfoOut])
async def list_shares(bundle_id: str, actor: PrincipalDep, s: SessionDep, page: PageDep):
    """A bundle's share links, newest first, with their state; never their URLs (only a hash is kept)."""
    return await listing.bundle_shares(s, actor, bundle_id, page)


@router.get("/v1/shares/{share_id}", dependencies=STAFF, responses=problems(404), response_model=ShareDetailOut)
async def get_share(share_id: str, actor: PrincipalDep, s: SessionDep):
    """A share and its access log (every use of the link, refused ones too, from the audit)."""
    return await listing.share_detail(s, actor, share_id)


@router.delete("/v1/shares/{share_id}", dependencies=SHARERS, responses=problems(404, 409), status_code=204)
async def revoke_share(share_id: str, actor: PrincipalDep, s: SessionDep):
    await shares.revoke(s, actor, share_id)


@router.get("/v1/shared/{token}", response_class=StreamingResponse,
            responses={**PARTIAL, **problems(404, 409, 410, 416)})
async def shared_download(request: Request, token: str, s: SessionDep, ctx: ContextDep):
    """No login: the token is the capability. Every access is audited with address and user agent."""
    opened = await shares.open_download(s, token, request.headers.get("range"), client_ip(request),
                                        request.headers.get("user-agent"))
    if isinstance(opened, Problem):  # answered once the refusal's audit event has committed
        return problem_response(opened)
    bundle, rng, grant = opened.bundle, opened.range, opened.grant
    body = shares.metered(grant, ctx.store.read(bundle.storage_key, rng.start, rng.end))
    inner = ranged_response(body, rng, bundle.size_bytes, "application/zip", etag=bundle.sha256,
                            filename=f"{bundle.id}.zip")
    return _Settled(inner, lambda: _settle(ctx, grant))


@router.post("/v1/shared/{token}/receipt", responses=problems(404, 409), status_code=201, response_model=ReceiptOut)
async def shared_receipt(request: Request, token: str, body: ReceiptIn, s: SessionDep, ctx: ContextDep):
    """No login: the recipient acknowledges the bundle once a download has started (409 before); the force
    signs the receipt. Audited with address and user agent."""
    r = await receipts.acknowledge(s, ctx.signer, token, body.name, body.organisation, client_ip(request),
                                   request.headers.get("user-agent"))
    return ReceiptOut.of(r)


async def _settle(ctx, grant: shares.Grant) -> None:
    """Give back, in a transaction of its own after the response, what it reserved and did not send.
    Shielded: it runs while the response is being cancelled."""
    if grant.settled:
        return
    grant.settled = True
    if grant.reserved - grant.sent <= 0:
        return
    with anyio.CancelScope(shield=True):
        async with transaction(ctx.sessions) as s:
            await shares.settle(s, grant)


class _Settled(Response):
    """The streamed answer of a share link, which gives back the bytes it reserved and did not send
    however it ends (finished, client gone, cancelled): the generator's own clean-up would run only
    when it is garbage collected, if at all."""

    def __init__(self, inner: Response, settle: Callable[[], Awaitable[None]]):
        self.__dict__.update(inner.__dict__)  # status and headers, for whoever looks before it is sent
        self._inner, self._settle = inner, settle

    async def __call__(self, scope, receive, send) -> None:
        try:
            await self._inner(scope, receive, send)
        finally:
            await self._settle()
