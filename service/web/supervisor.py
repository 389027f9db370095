"""Console pages: supervisor. Alerts (acknowledge), devices and their clock drift, holds. The controls on
the recording page (unflag, restrict, do-not-disclose) are in supervisor_controls.py, on this router."""

from __future__ import annotations

from fastapi import Depends, Request

from service.auth.schemas import Principal
from service.devices import endpoints as devices_api
from service.devices.schemas import AckIn
from service.errors import Invalid
from service.retention import endpoints as retention_api
from service.retention.schemas import HoldIn, ReasonIn
from service.web import supervisor_controls
from service.web.deps import call_api, form_model, is_htmx, safe_next, signed_in
from service.web.drift import drift_chart
from service.web.pageutil import day_param, limit_of, next_url, split_ids
from service.web.render import console_router, done, fragment, render

router = console_router()
router.include_router(supervisor_controls.router)
supervisor = signed_in(*devices_api.supervisor.roles)

ALERT_KINDS = {
    "clock_fault": "Clock fault",
    "unreadable_media": "Unreadable media",
    "hash_mismatch": "Hash mismatch",
    "sar_overdue": "SAR overdue",
    "sar_due_soon": "SAR deadline soon",
    "sar_redaction_failed": "SAR redaction failed",
    "legal_hold_failed": "Storage legal hold failed",
    "deletion_refused": "Deletion refused by storage",
    "held_recording_lost": "Held recording lost",
    "bundle_failed": "Bundle build failed",
}
HOLD_KINDS = {"legal": "Legal", "complaint": "Complaint", "iopc": "IOPC", "sar": "Subject access"}


def _words(kind: str) -> str:
    return ALERT_KINDS.get(kind, kind.replace("_", " ").capitalize())


# --- Alerts ---

@router.get("/ui/supervisor/alerts")
async def alerts(request: Request, show: str | None = None, cursor: str | None = None, limit: str | None = None,
                 me: Principal = Depends(supervisor)):
    everything = show == "all"
    page = await call_api(devices_api.list_alerts, request, me, open=None if everything else True, kind=None,
                          cursor=cursor, limit=limit_of(limit))
    nxt = next_url("/ui/supervisor/alerts", {"show": show}, page.next_cursor)
    return render(request, "supervisor/alerts.html", me, title="Alerts", alerts=page.items, everything=everything,
                  next_url=nxt, words=_words)


@router.post("/ui/supervisor/alerts/{alert_id}/ack")
async def ack(request: Request, alert_id: str, me: Principal = Depends(supervisor)):
    form = dict(await request.form())
    body = form_model(AckIn, {"note": form.get("note", "")})
    alert = await call_api(devices_api.ack_alert, request, me, alert_id=alert_id, body=body)
    if is_htmx(request):
        return fragment(request, "supervisor/_alert_row.html", a=alert, words=_words, swapped=True)
    return done("/ui/supervisor/alerts", f"{_words(alert.kind)} alert on {alert.subject_id} acknowledged.")


# --- Devices ---

@router.get("/ui/supervisor/devices")
async def devices(request: Request, clock_status: str | None = None, cursor: str | None = None,
                  limit: str | None = None, me: Principal = Depends(supervisor)):
    status = clock_status if clock_status in ("ok", "fault") else None
    page = await call_api(devices_api.list_devices, request, me, clock_status=status, cursor=cursor,
                          limit=limit_of(limit))
    nxt = next_url("/ui/supervisor/devices", {"clock_status": status}, page.next_cursor)
    return render(request, "supervisor/devices.html", me, title="Devices", devices=page.items,
                  clock_status=status, next_url=nxt)


@router.get("/ui/supervisor/devices/{device_id}")
async def device(request: Request, device_id: str, me: Principal = Depends(supervisor)):
    d = await call_api(devices_api.get_device, request, me, device_id=device_id)
    return render(request, "supervisor/device.html", me, title=f"Device {d.id}", device=d,
                  chart=drift_chart(d.history or []))


# --- Holds ---

@router.get("/ui/supervisor/holds")
async def holds(request: Request, cursor: str | None = None, limit: str | None = None,
                me: Principal = Depends(supervisor)):
    page = await call_api(retention_api.list_holds, request, me, active=True, cursor=cursor, limit=limit_of(limit))
    nxt = next_url("/ui/supervisor/holds", {}, page.next_cursor)
    return render(request, "supervisor/holds.html", me, title="Holds", holds=page.items, next_url=nxt,
                  kinds=HOLD_KINDS)


@router.post("/ui/supervisor/holds")
async def place_hold(request: Request, me: Principal = Depends(supervisor)):
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
    hold = await call_api(retention_api.place_hold, request, me, body=body)
    back = safe_next(form.get("next"), "/ui/supervisor/holds")
    return done(back, f"{HOLD_KINDS.get(hold.kind, hold.kind)} hold {hold.reference} placed on "
                      f"{hold.recordings} recording{'' if hold.recordings == 1 else 's'}.")


@router.post("/ui/supervisor/holds/{hold_id}/release")
async def release_hold(request: Request, hold_id: str, me: Principal = Depends(supervisor)):
    form = dict(await request.form())
    body = form_model(ReasonIn, {"reason": form.get("reason", "")})
    hold = await call_api(retention_api.release_hold, request, me, hold_id=hold_id, body=body)
    return done("/ui/supervisor/holds", f"Hold {hold.reference} released.")
