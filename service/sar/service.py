"""Subject access requests: intake with an immediate hold, the ICO's calendar-month deadline, items,
extension, closing. Redaction lives in :mod:`service.sar.redaction`, disclosure in :mod:`service.sar.disclose`.

The requester's personal data (name, contact, description) stays in the ``sars`` row: audit events,
alerts, logs and metrics name the SAR by its id only.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from service.alerts import service as alerts
from service.alerts.models import AlertKind
from service.audit import service as audit
from service.auth.roles import SAR_HANDLERS, SAR_READERS, require
from service.auth.schemas import Principal
from service.context import Context
from service.db import after_commit
from service.errors import Conflict, Invalid, NotFound
from service.http_range import ByteRange, parse_range
from service.ids import new_id
from service.paging import Page, PageParams, after_due_id, after_id, cut
from service.recordings.access import check_clip, readable
from service.recordings.models import Recording
from service.retention import service as retention
from service.sar import deadline
from service.sar import repository as repo
from service.sar.models import RedactionStatus, Regime, Sar, SarItem, SarSort, SarStatus
from service.sar.schemas import ExtendIn, ItemIn, SarIn, SarOut
from service.timeutil import as_utc, utcnow

# A receipt time may run a little ahead of the server (a clock on the handler's PC), not more.
RECEIPT_FUTURE_TOLERANCE_S = 300


def _in_future(at: datetime) -> bool:
    return (at - utcnow()).total_seconds() > RECEIPT_FUTURE_TOLERANCE_S


async def get_sar(s: AsyncSession, sar_id: str, *, for_update: bool = False) -> Sar:
    sar = await repo.get(s, sar_id, for_update=for_update)
    if sar is None:
        raise NotFound(f"No subject access request {sar_id!r}.", slug="sar-not-found")
    return sar


async def open_sar(s: AsyncSession, sar_id: str) -> Sar:
    sar = await get_sar(s, sar_id, for_update=True)
    if sar.status == SarStatus.CLOSED:
        raise Conflict(f"Subject access request {sar_id} is closed.", slug="sar-closed")
    return sar


async def get_item(s: AsyncSession, sar: Sar, item_id: str, *, for_update: bool = False,
                   visible_to: Principal | None = None) -> SarItem:
    """``visible_to``: an item whose recording was restricted away from that person is not found."""
    item = await repo.item(s, sar.id, item_id, for_update=for_update, visible_to=visible_to)
    if item is None:
        raise NotFound(f"No item {item_id!r} in {sar.id}.", slug="item-not-found")
    return item


def standing(sar: Sar, now: datetime) -> tuple[int | None, bool]:
    """(calendar days left, overdue) as the handler's queue shows them."""
    if sar.due_date is None or sar.due_at is None:
        return None, False
    left = deadline.days_left(sar.due_date, now)
    return left, sar.status != SarStatus.CLOSED and as_utc(sar.due_at) < now


def _set_due(ctx: Context, sar: Sar) -> None:
    months = 1 + sar.extended_months
    sar.due_date = deadline.due_date(sar.clock_start, months, ctx.policies.sar.bank_holidays)
    sar.due_at = deadline.due_at(sar.due_date)


Restricted = tuple[int, list[str]]  # (how many the caller may not see, whom to ask)


async def create(s: AsyncSession, actor: Principal, ctx: Context,
                 body: SarIn) -> tuple[Sar, list[Recording], Restricted]:
    """The request, the candidates its hold covers that ``actor`` may see, and what it covers that they
    may not (restricted footage: held all the same)."""
    require(actor, SAR_HANDLERS)
    policy = ctx.policies.sar
    q = body.query
    if (q.to - q.from_).total_seconds() > policy.max_window_days * 86400:
        raise Invalid(f"The query window spans {(q.to - q.from_).total_seconds() / 86400:.1f} days; the policy "
                      f"allows at most {policy.max_window_days}. Ask the requester to narrow it, or log "
                      "several requests.", slug="window-too-long")
    now = utcnow()
    if _in_future(body.received_at):
        raise Invalid("received_at is in the future.", slug="invalid-received-at")
    sar = Sar(id=new_id("sar"), regime=body.regime or policy.default_regime, requester=body.requester,
              contact=body.contact, description=body.description, received_at=body.received_at,
              clock_start=deadline.receipt_day(body.received_at), extended_months=0, status=SarStatus.OPEN,
              q_from=q.from_, q_to=q.to, q_officer_id=q.officer_id, q_device_id=q.device_id,
              q_location=q.location, created_by=actor.sub, created_at=now)
    _set_due(ctx, sar)
    # The hold goes on in the same transaction as the request: footage near its 31st day must not
    # slip away between logging the request and someone looking at it.
    hold, ids = await retention.place_hold(
        s, actor, ctx, kind="sar", reference=sar.id, reason=f"subject access request {sar.id}",
        query={"from": q.from_, "to": q.to, "officer_id": q.officer_id, "device_id": q.device_id})
    sar.hold_id = hold.id
    s.add(sar)
    await s.flush()
    await audit.record(s, actor, "sar.received", "sar", sar.id,
                       {"regime": sar.regime, "due_date": sar.due_date.isoformat(), "hold_id": hold.id,
                        "query": {"from": q.from_, "to": q.to, "officer_id": q.officer_id,
                                  "device_id": q.device_id}, "candidates": len(ids)})
    candidates = await repo.held_recordings(s, hold.id, actor)
    restricted = await repo.restricted_in_hold(s, hold.id, actor)
    return sar, candidates, restricted


async def get(s: AsyncSession, viewer: Principal, sar_id: str, *,
              audit_view: bool = True) -> tuple[Sar, list[SarItem], Restricted]:
    """A request as *viewer* sees it: the items they may see, and how much restricted footage its hold
    covers that they may not. ``audit_view``: this is a view of its personal data (``sar.viewed``)."""
    require(viewer, SAR_READERS)
    sar = await get_sar(s, sar_id)
    if audit_view:
        await audit.record(s, viewer, "sar.viewed", "sar", sar.id, {"user_agent": viewer.user_agent})
    return (sar, await repo.items(s, sar_id, viewer),
            await repo.restricted_in_hold(s, sar.hold_id, viewer))


async def item(s: AsyncSession, viewer: Principal, sar_id: str, item_id: str) -> SarItem:
    """One item and its redaction state (no personal data of the requester: not a ``sar.viewed``)."""
    require(viewer, SAR_READERS)
    return await get_item(s, await get_sar(s, sar_id), item_id, visible_to=viewer)


async def open_redacted(s: AsyncSession, actor: Principal, sar_id: str, item_id: str,
                        range_header: str | None) -> tuple[SarItem, ByteRange]:
    """The redacted copy, for the handler to check before disclosing it (audited, Range supported)."""
    require(actor, SAR_READERS)
    item = await get_item(s, await get_sar(s, sar_id), item_id, visible_to=actor)
    if item.redaction_status != RedactionStatus.READY:
        raise Conflict(f"Item {item_id} has no finished redaction ({item.redaction_status}).",
                       slug="redaction-not-ready", status_value=item.redaction_status)
    rng = parse_range(range_header, item.redacted_size)
    await audit.record(s, actor, "sar.redacted_viewed", "recording", item.recording_id,
                       {"sar_id": sar_id, "item_id": item.id, "run": item.redaction_run,
                        "range": [rng.start, rng.end - 1] if rng.partial else None})
    return item, rng


async def candidates(s: AsyncSession, viewer: Principal, sar_id: str) -> list[Recording]:
    """What the SAR's hold covers now that *viewer* may see, footage docked since the request included
    (``GET /v1/sars/{id}`` says how much restricted footage it also covers)."""
    require(viewer, SAR_READERS)
    sar = await get_sar(s, sar_id)
    return await repo.held_recordings(s, sar.hold_id, viewer)


async def extend(s: AsyncSession, actor: Principal, ctx: Context, sar_id: str, body: ExtendIn) -> Sar:
    require(actor, SAR_HANDLERS)
    sar = await open_sar(s, sar_id)
    if sar.regime != Regime.UK_GDPR:
        raise Conflict("Only UK GDPR requests may be extended; the ICO says DPA 2018 Part 3 (law "
                       "enforcement) requests must not be.", slug="extension-not-allowed", regime=sar.regime)
    limit = ctx.policies.sar.max_extension_months
    if sar.extended_months + body.months > limit:
        raise Conflict(f"A request may be extended by at most {limit} months in all; this one already has "
                       f"{sar.extended_months}.", slug="extension-limit", extended_months=sar.extended_months)
    was = sar.due_date
    sar.extended_months += body.months
    sar.extension_reason = body.reason if not sar.extension_reason else f"{sar.extension_reason}; {body.reason}"
    if sar.due_date is not None:
        _set_due(ctx, sar)
    await audit.record(s, actor, "sar.extended", "sar", sar.id,
                       {"months": body.months, "reason": body.reason, "was_due": was,
                        "due_date": sar.due_date})
    return sar


async def request_information(s: AsyncSession, actor: Principal, sar_id: str, what: str) -> Sar:
    """Identity or clarification asked for: the month stops and restarts the day the answer arrives."""
    require(actor, SAR_HANDLERS)
    sar = await open_sar(s, sar_id)
    if sar.status == SarStatus.AWAITING_INFORMATION:
        raise Conflict(f"Request {sar_id} is already waiting for information.", slug="already-awaiting")
    sar.status, sar.info_requested, sar.due_date, sar.due_at = SarStatus.AWAITING_INFORMATION, what, None, None
    await audit.record(s, actor, "sar.information_requested", "sar", sar.id, {})
    return sar


async def information_received(s: AsyncSession, actor: Principal, ctx: Context, sar_id: str,
                               received_at: datetime) -> Sar:
    require(actor, SAR_HANDLERS)
    sar = await open_sar(s, sar_id)
    if sar.status != SarStatus.AWAITING_INFORMATION:
        raise Conflict(f"Request {sar_id} is not waiting for information.", slug="not-awaiting")
    if received_at < as_utc(sar.received_at) or _in_future(received_at):
        raise Invalid("received_at must lie between the request's receipt and now.", slug="invalid-received-at")
    sar.status, sar.clock_start = SarStatus.OPEN, deadline.receipt_day(received_at)
    _set_due(ctx, sar)
    await audit.record(s, actor, "sar.information_received", "sar", sar.id,
                       {"clock_start": sar.clock_start, "due_date": sar.due_date})
    return sar


async def add_item(s: AsyncSession, actor: Principal, ctx: Context, sar_id: str, body: ItemIn) -> SarItem:
    require(actor, SAR_HANDLERS)
    sar = await open_sar(s, sar_id)
    rec = await readable(s, actor, body.recording_id, for_update=True)
    check_clip(rec, body.clip_end_s)
    if await repo.item_for_recording(s, sar.id, rec.id, body.clip_start_s, body.clip_end_s) is not None:
        raise Conflict(f"Recording {rec.id} with that clip range is already an item of {sar.id}.",
                       slug="duplicate-item")
    await retention.add_to_hold(s, ctx, sar.hold_id, rec.id)  # picked from outside the query
    item = SarItem(id=new_id("sit"), sar_id=sar.id, recording_id=rec.id, clip_start_s=body.clip_start_s,
                   clip_end_s=body.clip_end_s, added_by=actor.sub, added_at=utcnow(),
                   redaction_status=RedactionStatus.NONE, redaction_progress=0.0, redaction_attempts=0)
    s.add(item)
    await s.flush()
    await audit.record(s, actor, "sar.item_added", "recording", rec.id,
                       {"sar_id": sar.id, "item_id": item.id, "clip": [item.clip_start_s, item.clip_end_s]})
    return item


async def close(s: AsyncSession, actor: Principal, ctx: Context, sar_id: str, outcome: str) -> Sar:
    require(actor, SAR_HANDLERS)
    sar = await open_sar(s, sar_id)
    _, ids = await retention.release_hold(s, actor, ctx, sar.hold_id, f"subject access request {sar.id} closed",
                                          by_owner=True)
    now = utcnow()
    late = sar.due_at is not None and as_utc(sar.due_at) < now
    sar.status, sar.closed_by, sar.closed_at, sar.outcome = SarStatus.CLOSED, actor.sub, now, outcome
    # Face tracks and thumbnails are biometric data of the requester and of bystanders, kept only to
    # answer this request: they go with it (a scan still running finds its row gone and discards its work).
    tracks, thumbnails = await repo.drop_face_data(s, sar.id)
    if thumbnails:
        after_commit(s, lambda: ctx.store.delete(thumbnails))
    await audit.record(s, actor, "sar.closed", "sar", sar.id, {"outcome": outcome, "late": late,
                                                                "face_tracks_deleted": tracks})
    return sar


def out(sar: Sar, items: list[SarItem] | None = None, restricted: Restricted | None = None,
        candidates: list[Recording] | None = None, item_count: int | None = None) -> SarOut:
    left, overdue = standing(sar, utcnow())
    return SarOut.of(sar, items, days_left=left, overdue=overdue, candidates=candidates, item_count=item_count,
                     restricted=restricted)


async def view(s: AsyncSession, viewer: Principal, sar_id: str, *, audit_view: bool = False) -> SarOut:
    """:func:`get`, as the API and the console show it."""
    sar, items, restricted = await get(s, viewer, sar_id, audit_view=audit_view)
    return out(sar, items, restricted)


async def search(s: AsyncSession, viewer: Principal, page: PageParams, *, overdue: bool | None = None,
                 status: SarStatus | None = None, active: bool = False, sort: SarSort = SarSort.ID) -> Page[SarOut]:
    """Requests in id order, or earliest due first (``sort=due``), each with the number of its items
    *viewer* may see. ``active``: every request not closed (the handlers' queue)."""
    require(viewer, SAR_READERS)
    if sort == SarSort.DUE:
        rows = await repo.search_by_due(s, now=utcnow(), overdue=overdue, status=status, active=active,
                                        after=after_due_id(page), limit=page.limit)
        rows, nxt = cut(rows, page, lambda r: [r.due_at.isoformat() if r.due_at else None, r.id])
    else:
        rows = await repo.search(s, now=utcnow(), overdue=overdue, status=status, active=active,
                                 after=after_id(page), limit=page.limit)
        rows, nxt = cut(rows, page, lambda r: [r.id])
    counts = await repo.item_counts(s, [r.id for r in rows], viewer)
    return Page[SarOut](items=[out(r, item_count=counts.get(r.id, 0)) for r in rows], next_cursor=nxt)


async def check_deadlines(s: AsyncSession, ctx: Context) -> dict[str, int]:
    """Alert supervisors about open requests due within ``due_soon_days`` and overdue ones (by id only:
    an alert is not a place for the requester's name). An open alert is counted again, not duplicated."""
    now = utcnow()
    soon, late = 0, 0
    for sar in await repo.due_by(s, now + timedelta(days=ctx.policies.sar.due_soon_days)):
        left, overdue = standing(sar, now)
        details = {"due_date": sar.due_date.isoformat(), "days_left": left, "regime": sar.regime}
        if overdue:
            late += 1
            await alerts.raise_alert(s, AlertKind.SAR_OVERDUE, "sar", sar.id,
                                      f"Subject access request {sar.id} was due on {sar.due_date.isoformat()} "
                                      "and is not closed.", details, severity="critical")
        else:
            soon += 1
            await alerts.raise_alert(s, AlertKind.SAR_DUE_SOON, "sar", sar.id,
                                      f"Subject access request {sar.id} is due on {sar.due_date.isoformat()} "
                                      f"({left} days left).", details)
    return {"due_soon": soon, "overdue": late}
