"""Console pages: supervisor. Alerts (acknowledge), devices and their clock drift, holds, retention reviews. The controls on
the recording page (unflag, restrict, do-not-disclose) are in supervisor_controls.py, on this router."""

from __future__ import annotations

from fastapi import Depends, Request

from service.alerts import service as alerts
from service.alerts.models import AlertKind
from service.alerts.schemas import AckIn
from service.auth.schemas import Principal
from service.deps import ContextDep, SessionDep
from service.devices import service as devices
from service.devices.models import ClockStatus
from service.errors import Invalid
from service.paging import page_params
from service.retention import reviews
from service.retention import service as retention
from service.retention.models import HoldKind
from service.retention.schemas import HoldIn, ReasonIn, ReviewDecisionIn
from service.web import supervisor_controls
from service.web.deps import form_model, is_htmx, safe_next, signed_in
from service.web.drift import drift_chart
from service.web.pageutil import day_param, limit_of, next_url, split_ids
from service.web.render import console_router, done, fragment, render

router = console_router()
router.include_router(supervisor_controls.router)
# Alerts, devices and holds are one desk: the guard is the alerts' readers, and each service checks its own.
supervisor = signed_in(*alerts.READERS)

ALERT_KINDS = {
    AlertKind.CLOCK_FAULT: "Clock fault",
    AlertKind.UNREADABLE_MEDIA: "Unreadable media",
    AlertKind.HASH_MISMATCH: "Hash mismatch",
    AlertKind.SAR_OVERDUE: "SAR overdue",
    AlertKind.SAR_DUE_SOON: "SAR deadline soon",
    AlertKind.SAR_REDACTION_FAILED: "SAR redaction failed",
    AlertKind.LEGAL_HOLD_FAILED: "Storage legal hold failed",
    AlertKind.DELETION_REFUSED: "Deletion refused by storage",
    AlertKind.HELD_RECORDING_LOST: "Held recording lost",
    AlertKind.BUNDLE_FAILED: "Bundle build failed",
    AlertKind.REVIEW_DUE: "Retention review due",
    AlertKind.NOTIFICATION_FAILED: "E-mail not sent",
}
HOLD_KINDS = {HoldKind.LEGAL: "Legal", HoldKind.COMPLAINT: "Complaint", HoldKind.IOPC: "IOPC",
              HoldKind.SAR: "Subject access"}


def _words(kind: str) -> str:
    return ALERT_KINDS.get(kind, kind.replace("_", " ").capitalize())


# --- Alerts ---

@router.get("/ui/supervisor/alerts")
async def alerts_page(request: Request, s: SessionDep, show: str | None = None, cursor: str | None = None,
                      limit: str | None = None, me: Principal = Depends(supervisor)):
    everything = show == "all"
    page = await alerts.list_alerts(s, me, page_params(limit_of(limit), cursor), open_only=None if everything else True)
    nxt = next_url("/ui/supervisor/alerts", {"show": show}, page.next_cursor)
    return render(request, "supervisor/alerts.html", me, title="Alerts", alerts=page.items, everything=everything,
                  next_url=nxt, words=_words)


@router.post("/ui/supervisor/alerts/{alert_id}/ack")
async def ack(request: Request, s: SessionDep, alert_id: str, me: Principal = Depends(supervisor)):
    form = dict(await request.form())
    body = form_model(AckIn, {"note": form.get("note", "")})
    alert = await alerts.ack(s, me, alert_id, body.note)
    if is_htmx(request):
        return fragment(request, "supervisor/_alert_row.html", a=alert, words=_words, swapped=True)
    return done("/ui/supervisor/alerts", f"{_words(alert.kind)} alert on {alert.subject_id} acknowledged.")


# --- Devices ---

@router.get("/ui/supervisor/devices")
async def devices_page(request: Request, s: SessionDep, clock_status: str | None = None, cursor: str | None = None,
                       limit: str | None = None, me: Principal = Depends(supervisor)):
    status = ClockStatus(clock_status) if clock_status in tuple(ClockStatus) else None
    page = await devices.list_devices(s, me, page_params(limit_of(limit), cursor), clock_status=status)
    nxt = next_url("/ui/supervisor/devices", {"clock_status": status}, page.next_cursor)
    return render(request, "supervisor/devices.html", me, title="Devices", devices=page.items,
                  clock_status=status, next_url=nxt)


@router.get("/ui/supervisor/devices/{device_id}")
async def device(request: Request, s: SessionDep, device_id: str, me: Principal = Depends(supervisor)):
    d = await devices.get_device(s, me, device_id)
    return render(request, "supervisor/device.html", me, title=f"Device {d.id}", device=d,
                  chart=drift_chart(d.history or []))


# --- Holds ---

@router.get("/ui/supervisor/holds")
async def holds(request: Request, s: SessionDep, cursor: str | None = None, limit: str | None = None,
                me: Principal = Depends(supervisor)):
    page = await retention.list_holds(s, me, page_params(limit_of(limit), cursor), active=True)
    nxt = next_url("/ui/supervisor/holds", {}, page.next_cursor)
    return render(request, "supervisor/holds.html", me, title="Holds", holds=page.items, next_url=nxt,
                  kinds=HOLD_KINDS)


@router.post("/ui/supervisor/holds")
async def place_hold(request: Request, s: SessionDep, ctx: ContextDep, me: Principal = Depends(supervisor)):
    form = dict(await request.form())
    data = {k: form.get(k, "") for k in ("kind", "reference", "reason")}
    ids = split_ids(form.get("recording_ids"))
    query = {"officer_id": form.get("officer_id") or None, "device_id": form.get("device_id") or None,
             "from": day_param(form.get("from"), "from"), "to": day_param(form.get("to"), "to", end=True)}
    if ids and any(query.values()):
        raise Invalid("Give either recording ids or a query (officer, device, dates), not both.",
                      slug="validation-error", title="Validation failed")
    if ids:
        data["recording_ids"] = ids
    elif any(query.values()):
        data["query"] = {k: v for k, v in query.items() if v}
    body = form_model(HoldIn, data)
    hold = await retention.hold_out(s, me, (await retention.place_hold(s, me, ctx, **body.hold_args()))[0])
    back = safe_next(form.get("next"), "/ui/supervisor/holds")
    return done(back, f"{HOLD_KINDS.get(hold.kind, hold.kind)} hold {hold.reference} placed on "
                      f"{hold.recordings} recording{'' if hold.recordings == 1 else 's'}.")


@router.post("/ui/supervisor/holds/{hold_id}/release")
async def release_hold(request: Request, s: SessionDep, ctx: ContextDep, hold_id: str,
                       me: Principal = Depends(supervisor)):
    form = dict(await request.form())
    body = form_model(ReasonIn, {"reason": form.get("reason", "")})
    hold, _ = await retention.release_hold(s, me, ctx, hold_id, body.reason)
    return done("/ui/supervisor/holds", f"Hold {hold.reference} released.")


# --- Retention reviews ---

@router.get("/ui/supervisor/reviews")
async def reviews_page(request: Request, s: SessionDep, ctx: ContextDep, show: str | None = None,
                       cursor: str | None = None, limit: str | None = None, me: Principal = Depends(supervisor)):
    """The review queue: soonest (so overdue, then due) first; decide from the row, the player one click away."""
    due_only = show != "all"
    page = await reviews.list_reviews(s, me, ctx, page_params(limit_of(limit), cursor), due=due_only or None)
    nxt = next_url("/ui/supervisor/reviews", {"show": show}, page.next_cursor)
    return render(request, "supervisor/reviews.html", me, title="Retention reviews", reviews=page.items,
                  due_only=due_only, next_url=nxt, max_days=ctx.policies.retention.reviews.max_retain_days,
                  can_decide=me.has(*reviews.REVIEWERS))


@router.post("/ui/supervisor/reviews/{review_id}/decision")
async def decide_review(request: Request, s: SessionDep, ctx: ContextDep, review_id: str,
                        me: Principal = Depends(supervisor)):
    form = dict(await request.form())
    data = {"decision": form.get("decision", ""), "reason": form.get("reason", "")}
    if data["decision"] == "retain" and form.get("retain_days"):
        data["retain_days"] = form.get("retain_days")
    out = await reviews.decide(s, me, ctx, review_id, form_model(ReviewDecisionIn, data))
    verb = "kept; next review set" if out.status == "retained" else "released; the default rule applies from now"
    return done(safe_next(form.get("next"), "/ui/supervisor/reviews"), f"Recording {out.recording_id} {verb}.")
