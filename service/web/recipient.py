"""The page a share link's recipient opens (no login: the token is the capability): what the bundle is, the
download, how to verify it with standard tools against the force's published key, and the receipt."""

from __future__ import annotations

from fastapi import Request

from service.auth.endpoints import client_ip
from service.deps import ContextDep, SessionDep
from service.disclosure import receipts
from service.disclosure.schemas import ReceiptIn
from service.web.deps import form_model
from service.web.render import console_router, render

router = console_router()


async def _page(request: Request, s, ctx, token: str, **extra):
    view = await receipts.recipient_view(s, token, client_ip(request), request.headers.get("user-agent"))
    return render(request, "disclosure/recipient.html", None, title="Evidence shared with you", view=view,
                  token=token, base_url=ctx.settings.public_base_url.rstrip("/"), **extra)


@router.get("/ui/shared/{token}")
async def shared_page(request: Request, s: SessionDep, ctx: ContextDep, token: str):
    return await _page(request, s, ctx, token)


@router.post("/ui/shared/{token}/receipt")
async def shared_receipt(request: Request, s: SessionDep, ctx: ContextDep, token: str):
    body = form_model(ReceiptIn, dict(await request.form()))
    receipt = await receipts.acknowledge(s, ctx.signer, token, body.name, body.organisation, client_ip(request),
                                         request.headers.get("user-agent"))
    return await _page(request, s, ctx, token, receipt=receipt)
