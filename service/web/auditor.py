"""Console pages: audit search, the latest signed checkpoint with its witnesses' instructions, one-click chain
verification (full or incremental) naming the first bad event, and a recording's continuity."""

from __future__ import annotations

from fastapi import Depends, Query, Request

from service.audit import service as audit
from service.audit.models import VerificationMode
from service.auth.schemas import Principal
from service.deps import ContextDep, SessionDep
from service.errors import Gone
from service.paging import encode_cursor, page_params
from service.recordings import service as recordings
from service.timeutil import parse_time
from service.web.deps import signed_in
from service.web.pageutil import utc_field
from service.web.render import console_router, fragment, render

router = console_router()
auditor = signed_in(*audit.READERS)


@router.get("/ui/audit")
async def search(request: Request, s: SessionDep, ctx: ContextDep, object_id: str = "", actor: str = "", action: str = "",
                 from_: str = Query("", alias="from"), to: str = "", cursor: str | None = None,
                 me: Principal = Depends(auditor)):
    filters = {"object_id": object_id.strip(), "actor": actor.strip(), "action": action.strip(),
               "from": from_.strip(), "to": to.strip()}
    page = await audit.search(s, me, page_params(100, cursor), object_id=filters["object_id"] or None,
                              actor=filters["actor"] or None, action=filters["action"] or None,
                              start=parse_time(utc_field(filters["from"]), "from"),
                              end=parse_time(utc_field(filters["to"]), "to"))
    checkpoint, last = await audit.latest_checkpoint_or_none(s, me), await audit.last_verification(s, me)
    return render(request, "audit/search.html", me, title="Audit", page=page, filters=filters, checkpoint=checkpoint,
                  last=last, base_url=ctx.settings.public_base_url.rstrip("/"))


@router.get("/ui/audit/verify")
async def verify(request: Request, s: SessionDep, ctx: ContextDep, mode: VerificationMode = VerificationMode.FULL,
                 me: Principal = Depends(auditor)):
    """The chain re-hashed now against every signed checkpoint (the same check as ``bwv audit verify``)."""
    result = await audit.verify_as(s, me, ctx.signer, ctx.store, mode=mode,
                                   tsa_ca=str(ctx.settings.tsa_ca_file) if ctx.settings.tsa_ca_file else None)
    # The events from the first bad one on: the search page's cursor is the seq before it.
    inspect = encode_cursor([result.first_bad_seq - 1]) if result.first_bad_seq and result.first_bad_seq > 1 else ""
    return fragment(request, "audit/_verify.html", result=result, inspect=inspect)


@router.get("/ui/recordings/{recording_id}/continuity")
async def continuity(request: Request, s: SessionDep, recording_id: str, cursor: str | None = None,
                     me: Principal = Depends(auditor)):
    """Who held, viewed, flagged, clipped, shared or deleted this recording, in chain order."""
    try:
        rec = await recordings.view(s, me, recording_id)
    except Gone:  # a deleted recording keeps its continuity
        rec = None
    page = await audit.search(s, me, page_params(200, cursor), object_id=recording_id)
    return render(request, "audit/continuity.html", me, title=f"Continuity of {recording_id}", rec=rec,
                  recording_id=recording_id, page=page)
