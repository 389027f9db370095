from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from service.audit import service as audit
from service.auth.endpoints import client_ip, require
from service.auth.schemas import Principal
from service.db import transaction
from service.disclosure import bundles, listing, service, shares
from service.disclosure.models import Bundle
from service.disclosure.schemas import (
    BundleOut,
    CaseIn,
    CaseOut,
    CaseSummaryOut,
    ItemIn,
    ItemOut,
    MarkOut,
    ReasonIn,
    ShareDetailOut,
    ShareIn,
    ShareInfoOut,
    ShareOut,
)
from service.errors import Conflict
from service.paging import Page, PageParams, after_id, cut, page_params
from service.recordings.service import parse_range, ranged_response

router = APIRouter(tags=["disclosure"])
disclosure = require("disclosure", "admin")
supervisor = require("supervisor", "admin")


@router.post("/v1/cases", status_code=201, response_model=CaseOut)
async def create_case(request: Request, body: CaseIn, actor: Principal = Depends(disclosure)):
    return CaseOut.of(await service.create_case(request.app.state.ctx, actor, body), [])


@router.get("/v1/cases", response_model=Page[CaseSummaryOut])
async def list_cases(request: Request, status: str | None = Query(None, pattern="^(open|closed)$"),
                     page: PageParams = Depends(page_params), actor: Principal = Depends(disclosure)):
    """Newest first; each with its number of exhibits (``GET /v1/cases/{id}`` lists them)."""
    rows = await listing.list_cases(request.app.state.ctx, actor, status=status, before=after_id(page),
                                    limit=page.limit + 1)
    rows, nxt = cut(rows, page, lambda r: [r[0].id])
    return Page[CaseSummaryOut](items=[CaseSummaryOut.of(c, n) for c, n in rows], next_cursor=nxt)


@router.get("/v1/cases/{case_id}", response_model=CaseOut)
async def get_case(request: Request, case_id: str, actor: Principal = Depends(disclosure)):
    return CaseOut.of(*await listing.case_view(request.app.state.ctx, actor, case_id))


@router.post("/v1/cases/{case_id}/items", status_code=201, response_model=ItemOut)
async def add_item(request: Request, case_id: str, body: ItemIn, actor: Principal = Depends(disclosure)):
    ctx = request.app.state.ctx
    item = await service.add_item(ctx, actor, case_id, body)
    return ItemOut.of(item, (await service.recording_hashes(ctx, [item.recording_id])).get(item.recording_id))


@router.post("/v1/cases/{case_id}/close", response_model=CaseOut)
async def close_case(request: Request, case_id: str, body: ReasonIn, actor: Principal = Depends(disclosure)):
    ctx = request.app.state.ctx
    await service.close_case(ctx, actor, case_id, body.reason)
    return CaseOut.of(*await listing.case_view(ctx, actor, case_id))


@router.post("/v1/recordings/{recording_id}/do-not-disclose", status_code=201, response_model=MarkOut)
async def mark(request: Request, recording_id: str, body: ReasonIn, actor: Principal = Depends(supervisor)):
    m = await service.mark_do_not_disclose(request.app.state.ctx, actor, recording_id, body.reason)
    return MarkOut(recording_id=m.recording_id, reason=m.reason, marked_by=m.marked_by, marked_at=m.marked_at)


@router.delete("/v1/recordings/{recording_id}/do-not-disclose", status_code=204)
async def lift(request: Request, recording_id: str, body: ReasonIn = Body(...), actor: Principal = Depends(supervisor)):
    await service.lift_do_not_disclose(request.app.state.ctx, actor, recording_id, body.reason)


@router.post("/v1/cases/{case_id}/bundles", status_code=202, response_model=BundleOut)
async def request_bundle(request: Request, case_id: str, actor: Principal = Depends(disclosure)):
    return BundleOut.of(await bundles.request_bundle(request.app.state.ctx, actor, case_id))


@router.get("/v1/cases/{case_id}/bundles", response_model=Page[BundleOut])
async def list_case_bundles(request: Request, case_id: str, page: PageParams = Depends(page_params),
                            _: Principal = Depends(disclosure)):
    """The bundles built (or being built) from a case, newest first."""
    rows = await listing.case_bundles(request.app.state.ctx, case_id, before=after_id(page), limit=page.limit + 1)
    rows, nxt = cut(rows, page, lambda b: [b.id])
    return Page[BundleOut](items=[BundleOut.of(b) for b in rows], next_cursor=nxt)


@router.get("/v1/bundles/{bundle_id}", response_model=BundleOut)
async def get_bundle(request: Request, bundle_id: str, _: Principal = Depends(disclosure)):
    async with request.app.state.ctx.sessions() as s:
        return BundleOut.of(await _bundle(s, bundle_id))


@router.get("/v1/bundles/{bundle_id}/download", response_class=StreamingResponse)
async def download_bundle(request: Request, bundle_id: str, actor: Principal = Depends(disclosure)):
    ctx = request.app.state.ctx
    async with transaction(ctx.sessions) as s:
        b = await _bundle(s, bundle_id)
        if b.status != "ready":
            raise Conflict(f"Bundle {bundle_id} is {b.status}, not ready.", slug="bundle-not-ready", status_value=b.status)
        rng = parse_range(request.headers.get("range"), b.size_bytes)
        await audit.record(s, actor, "bundle.downloaded", "bundle", b.id,
                           {"range": [rng.start, rng.end - 1] if rng.partial else None, "user_agent": actor.user_agent})
    return ranged_response(ctx.store.read(b.storage_key, rng.start, rng.end), rng, b.size_bytes,
                           "application/zip", etag=b.sha256, filename=f"{b.id}.zip")


async def _bundle(s, bundle_id: str) -> Bundle:
    return await shares.case_bundle(s, bundle_id)  # a SAR's bundle answers 404 here


@router.post("/v1/bundles/{bundle_id}/shares", status_code=201, response_model=ShareOut)
async def create_share(request: Request, bundle_id: str, body: ShareIn, actor: Principal = Depends(disclosure)):
    ctx = request.app.state.ctx
    share, token = await shares.create_share(ctx, actor, bundle_id, body.recipient, body.expires_at, body.max_downloads)
    return ShareOut(share_id=share.id, url=f"{ctx.settings.public_base_url.rstrip('/')}/v1/shared/{token}",
                    recipient=share.recipient, expires_at=share.expires_at, max_downloads=share.max_downloads)


@router.get("/v1/bundles/{bundle_id}/shares", response_model=Page[ShareInfoOut])
async def list_shares(request: Request, bundle_id: str, page: PageParams = Depends(page_params),
                      _: Principal = Depends(disclosure)):
    """A bundle's share links, newest first, with their state; never their URLs (only a hash is kept)."""
    rows = await listing.bundle_shares(request.app.state.ctx, bundle_id, before=after_id(page), limit=page.limit + 1)
    rows, nxt = cut(rows, page, lambda sh: [sh.share_id])
    return Page[ShareInfoOut](items=rows, next_cursor=nxt)


@router.get("/v1/shares/{share_id}", response_model=ShareDetailOut)
async def get_share(request: Request, share_id: str, _: Principal = Depends(disclosure)):
    """A share and its access log (every use of the link, refused ones too, from the audit)."""
    return await listing.share_detail(request.app.state.ctx, share_id)


@router.delete("/v1/shares/{share_id}", status_code=204)
async def revoke_share(request: Request, share_id: str, actor: Principal = Depends(disclosure)):
    await shares.revoke(request.app.state.ctx, actor, share_id)


@router.get("/v1/shared/{token}", response_class=StreamingResponse)
async def shared_download(request: Request, token: str):
    """No login: the token is the capability. Every access is audited with address and user agent."""
    ctx = request.app.state.ctx
    bundle, rng, grant = await shares.open_download(ctx, token, request.headers.get("range"), client_ip(request),
                                                    request.headers.get("user-agent"))
    body = shares.metered(grant, ctx.store.read(bundle.storage_key, rng.start, rng.end))
    inner = ranged_response(body, rng, bundle.size_bytes, "application/zip", etag=bundle.sha256,
                            filename=f"{bundle.id}.zip")
    return _Settled(inner, lambda: shares.settle(ctx, grant))


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
