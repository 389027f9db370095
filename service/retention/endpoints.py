from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse

from service.auth.endpoints import require
from service.auth.schemas import Principal
from service.errors import Invalid, NotFound
from service.paging import Page, PageParams, after_id, after_time_id, cut, page_params
from service.recordings.repository import readable_by
from service.retention import repository as repo
from service.retention import service
from service.retention.schemas import DueItem, FlagIn, FlagOut, Forecast, HoldIn, HoldOut, ReasonIn, SweepOut
from service.retention.service import keep_categories
from service.timeutil import iso, parse_time, utcnow

router = APIRouter(tags=["retention"])
flagger = require("officer", "supervisor", "disclosure", "admin")
supervisor = require("supervisor", "admin")
holder = require("supervisor", "disclosure", "sar_handler", "admin")
overseer = require("supervisor", "admin", "auditor")


@router.post("/v1/recordings/{recording_id}/flags", status_code=201, response_model=FlagOut)
async def add_flag(request: Request, recording_id: str, body: FlagIn, actor: Principal = Depends(flagger)):
    return FlagOut.of(await service.add_flag(request.app.state.ctx, actor, recording_id, body))


@router.delete("/v1/flags/{flag_id}", response_model=FlagOut)
async def remove_flag(request: Request, flag_id: str, body: ReasonIn = Body(...), actor: Principal = Depends(supervisor)):
    return FlagOut.of(await service.remove_flag(request.app.state.ctx, actor, flag_id, body.reason))


@router.post("/v1/holds", status_code=201, response_model=HoldOut)
async def place_hold(request: Request, body: HoldIn, actor: Principal = Depends(holder)):
    hold, _ = await service.place_hold(request.app.state.ctx, actor, body)
    return await _hold_out(request, hold, actor)


async def _hold_out(request: Request, hold, viewer: Principal) -> HoldOut:
    """A hold as ``viewer`` may see it: restricted footage it covers is protected but not listed."""
    async with request.app.state.ctx.sessions() as s:
        return HoldOut.of(hold, await repo.hold_recording_ids(s, hold.id, visible_to=viewer))


@router.get("/v1/holds", response_model=Page[HoldOut])
async def list_holds(request: Request, active: bool | None = None, page: PageParams = Depends(page_params),
                     actor: Principal = Depends(holder)):
    async with request.app.state.ctx.sessions() as s:
        rows, nxt = cut(await repo.list_holds(s, active=active, after=after_id(page), limit=page.limit + 1),
                        page, lambda h: [h.id])
        items = [HoldOut.of(h, await repo.hold_recording_ids(s, h.id, visible_to=actor)) for h in rows]
    return Page[HoldOut](items=items, next_cursor=nxt)


@router.get("/v1/holds/{hold_id}", response_model=HoldOut)
async def get_hold(request: Request, hold_id: str, actor: Principal = Depends(holder)):
    async with request.app.state.ctx.sessions() as s:
        hold = await repo.get_hold(s, hold_id)
        if hold is None:
            raise NotFound(f"No hold {hold_id!r}.", slug="hold-not-found")
        return HoldOut.of(hold, await repo.hold_recording_ids(s, hold_id, visible_to=actor))


@router.delete("/v1/holds/{hold_id}", response_model=HoldOut)
async def release_hold(request: Request, hold_id: str, body: ReasonIn = Body(...), actor: Principal = Depends(holder)):
    hold, _ = await service.release_hold(request.app.state.ctx, actor, hold_id, body.reason)
    return await _hold_out(request, hold, actor)


def _items(rows) -> list[DueItem]:
    return [DueItem(id=r.id, delete_after=r.delete_after, officer_id=r.officer_id, device_id=r.device_id,
                    filename=r.filename, trusted_start=r.trusted_start, size_bytes=r.size_bytes) for r in rows]


async def _due(request: Request, as_of, page: PageParams, extra: list) -> Forecast:
    """``extra`` always holds the caller's readable statement: counts and bytes are of what they may see."""
    ctx = request.app.state.ctx
    keep = keep_categories(ctx.policies.retention)
    async with ctx.sessions() as s:
        count, size = await repo.due_summary(s, as_of, keep, extra)
        rows = await repo.due_page(s, as_of, keep, after=after_time_id(page), limit=page.limit + 1, extra=extra)
    rows, nxt = cut(rows, page, lambda r: [iso(r.delete_after), r.id])
    return Forecast(as_of=as_of, count=count, bytes=size, items=_items(rows), next_cursor=nxt)


@router.get("/v1/retention/forecast", response_model=Forecast)
async def forecast(request: Request, as_of: str | None = None, page: PageParams = Depends(page_params),
                   actor: Principal = Depends(overseer)):
    """What a sweep as of ``as_of`` would delete (the same rule the sweep applies), of what the caller
    may see: restricted footage counts only for the people it is opened to (and auditors)."""
    return await _due(request, parse_time(as_of, "as_of") or utcnow(), page, [readable_by(actor)])


@router.get("/v1/retention/upcoming", response_model=Forecast)
async def upcoming(request: Request, days: int = Query(7), page: PageParams = Depends(page_params),
                   actor: Principal = Depends(require("officer", "supervisor", "admin"))):
    """The caller's own footage (a supervisor's: everyone's) deleted within ``days``, to flag in time."""
    if not 1 <= days <= 366:
        raise Invalid("days must be between 1 and 366", slug="invalid-days")
    # One's own footage, even for roles that may see more; supervisors and admins see everyone's.
    viewer = actor if actor.has("supervisor", "admin") else Principal(sub=actor.sub, roles=frozenset({"officer"}))
    return await _due(request, utcnow() + timedelta(days=days), page, [readable_by(viewer)])


@router.get("/v1/retention/sweeps", response_model=list[SweepOut])
async def sweeps(request: Request, _: Principal = Depends(overseer)):
    async with request.app.state.ctx.sessions() as s:
        return [SweepOut.of(r) for r in await repo.list_sweeps(s)]


@router.get("/v1/retention/policy")
async def policy(request: Request, _: Principal = Depends(require())):
    return JSONResponse(request.app.state.ctx.policies.retention.model_dump(mode="json"))
