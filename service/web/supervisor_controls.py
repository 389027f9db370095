"""The supervisor's controls on the recording page: unflag with a reason, restrict after an incident
(and lift it), mark or lift "do not disclose". Each calls the domain's service as the signed-in person and
comes back to the page."""

from __future__ import annotations

from fastapi import Depends, Request

from service.auth.schemas import Principal
from service.deps import ContextDep, SessionDep
from service.disclosure import service as disclosure
from service.recordings import service as recordings
from service.retention import service as retention
from service.retention.schemas import ReasonIn, RestrictIn
from service.web.deps import form_model, signed_in
from service.web.pageutil import split_ids
from service.web.render import console_router, done

router = console_router()
supervisor = signed_in(*retention.UNFLAGGERS)


def _page(recording_id: str) -> str:
    return f"/ui/recordings/{recording_id}"


async def _reason(request: Request) -> ReasonIn:
    return form_model(ReasonIn, {"reason": (await request.form()).get("reason", "")})


@router.post("/ui/recordings/{recording_id}/flags/{flag_id}/unflag")
async def unflag(request: Request, s: SessionDep, ctx: ContextDep, recording_id: str, flag_id: str,
                 me: Principal = Depends(supervisor)):
    flag = await retention.remove_flag(s, me, ctx, flag_id, (await _reason(request)).reason)
    return done(_page(flag.recording_id), f"Flag {flag.reference} removed; the default retention rule applies "
                                          "again from now.")


@router.post("/ui/recordings/{recording_id}/restrict")
async def restrict(request: Request, s: SessionDep, recording_id: str, me: Principal = Depends(supervisor)):
    form = await request.form()
    body = form_model(RestrictIn, {"people": split_ids(form.get("people")), "reason": form.get("reason", "")})
    rec = await recordings.restrict(s, me, recording_id, body.people, body.reason)
    message = f"Access restricted to {', '.join(body.people)} (and auditors)."
    if not me.has("auditor") and me.sub not in body.people:
        # The supervisor restricted it away from themselves: its page would now answer "not found".
        return done("/ui/recordings", f"Recording {rec.id}: {message}")
    return done(_page(rec.id), message)


@router.post("/ui/recordings/{recording_id}/unrestrict")
async def unrestrict(request: Request, s: SessionDep, recording_id: str, me: Principal = Depends(supervisor)):
    rec = await recordings.unrestrict(s, me, recording_id, (await _reason(request)).reason)
    return done(_page(rec.id), "Restriction lifted: the usual access rules apply again.")


@router.post("/ui/recordings/{recording_id}/do-not-disclose")
async def mark(request: Request, s: SessionDep, recording_id: str, me: Principal = Depends(supervisor)):
    await disclosure.mark_do_not_disclose(s, me, recording_id, (await _reason(request)).reason)
    return done(_page(recording_id), "Marked do not disclose: it cannot enter a bundle, share or SAR disclosure.")


@router.post("/ui/recordings/{recording_id}/do-not-disclose/lift")
async def lift(request: Request, s: SessionDep, recording_id: str, me: Principal = Depends(supervisor)):
    await disclosure.lift_do_not_disclose(s, me, recording_id, (await _reason(request)).reason)
    return done(_page(recording_id), "Do-not-disclose lifted.")
