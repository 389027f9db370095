from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends

from service.auth.endpoints import require
from service.auth.schemas import Principal
from service.deps import ContextDep, PrincipalDep, SessionDep
from service.errors import bounded_query, problems
from service.paging import Page, PageParams, page_params
from service.policies import RetentionPolicy
from service.retention import reviews, service
from service.retention.schemas import (
    FlagIn,
    FlagOut,
    Forecast,
    HoldIn,
    HoldOut,
    ReasonIn,
    ReviewDecisionIn,
    ReviewOut,
    SweepOut,
)
from service.timeutil import IsoTime, parse_time

router = APIRouter(tags=["retention"], responses=problems(401, 403, 422))
# The services check these roles themselves; the guards answer 403 before a bad body's 422.
flagger = require(*service.FLAGGERS)
supervisor = require(*service.UNFLAGGERS)
holder = require(*service.HOLDERS)
overseer = require(*service.OVERSEERS)


@router.post("/v1/recordings/{recording_id}/flags", responses=problems(404, 409, 410), status_code=201,
             response_model=FlagOut)
async def add_flag(s: SessionDep, ctx: ContextDep, recording_id: str, body: FlagIn,
                   actor: Principal = Depends(flagger)):
    return FlagOut.of(await service.add_flag(s, actor, ctx, recording_id, body))


@router.delete("/v1/flags/{flag_id}", responses=problems(404, 409), response_model=FlagOut)
async def remove_flag(s: SessionDep, ctx: ContextDep, flag_id: str, body: ReasonIn = Body(...),
                      actor: Principal = Depends(supervisor)):
    return FlagOut.of(await service.remove_flag(s, actor, ctx, flag_id, body.reason))


@router.post("/v1/holds", responses=problems(404, 409, 410), status_code=201, response_model=HoldOut)
async def place_hold(s: SessionDep, ctx: ContextDep, body: HoldIn, actor: Principal = Depends(holder)):
    hold, _ = await service.place_hold(s, actor, ctx, **body.hold_args())
    return await service.hold_out(s, actor, hold)


@router.get("/v1/holds", response_model=Page[HoldOut])
async def list_holds(s: SessionDep, active: bool | None = None, page: PageParams = Depends(page_params),
                     actor: Principal = Depends(holder)):
    return await service.list_holds(s, actor, page, active=active)


@router.get("/v1/holds/{hold_id}", responses=problems(404), response_model=HoldOut)
async def get_hold(s: SessionDep, hold_id: str, actor: Principal = Depends(holder)):
    return await service.get_hold(s, actor, hold_id)


@router.delete("/v1/holds/{hold_id}", responses=problems(404, 409), response_model=HoldOut)
async def release_hold(s: SessionDep, ctx: ContextDep, hold_id: str, body: ReasonIn = Body(...),
                       actor: Principal = Depends(holder)):
    hold, _ = await service.release_hold(s, actor, ctx, hold_id, body.reason)
    return await service.hold_out(s, actor, hold)


@router.get("/v1/retention/forecast", response_model=Forecast)
async def forecast(s: SessionDep, ctx: ContextDep, as_of: IsoTime | None = None,
                   page: PageParams = Depends(page_params), actor: Principal = Depends(overseer)):
    """What a sweep as of ``as_of`` would delete (the same rule the sweep applies), of what the caller
    may see: restricted footage counts only for the people it is opened to (and auditors)."""
    return await service.forecast(s, actor, ctx, parse_time(as_of, "as_of"), page)


@router.get("/v1/retention/upcoming", response_model=Forecast)
async def upcoming(s: SessionDep, ctx: ContextDep, days: Annotated[int, bounded_query("days", 1, 366)] = 7,
                   page: PageParams = Depends(page_params), actor: Principal = Depends(require(*service.UPCOMING))):
    """The caller's own footage (a supervisor's: everyone's) deleted within ``days``, to flag in time."""
    return await service.upcoming(s, actor, ctx, days, page)


@router.get("/v1/retention/sweeps", response_model=list[SweepOut])
async def sweeps(s: SessionDep, actor: Principal = Depends(overseer)):
    return await service.list_sweeps(s, actor)


@router.get("/v1/retention/policy", response_model=RetentionPolicy)
async def policy(ctx: ContextDep, _: PrincipalDep):
    return ctx.policies.retention


@router.get("/v1/retention/reviews", response_model=Page[ReviewOut])
async def list_reviews(s: SessionDep, ctx: ContextDep, due: bool | None = None,
                       page: PageParams = Depends(page_params),
                       actor: Principal = Depends(require(*reviews.READERS))):
    """Pending reviews of what is kept, soonest first; ``due=true``: those whose date has come."""
    return await reviews.list_reviews(s, actor, ctx, page, due=due)


@router.get("/v1/retention/reviews/{review_id}", responses=problems(404), response_model=ReviewOut)
async def get_review(s: SessionDep, ctx: ContextDep, review_id: str,
                     actor: Principal = Depends(require(*reviews.READERS))):
    return (await reviews.get_review(s, actor, ctx, review_id))[1]


@router.post("/v1/retention/reviews/{review_id}/decision", responses=problems(404, 409), response_model=ReviewOut)
async def decide(s: SessionDep, ctx: ContextDep, review_id: str, body: ReviewDecisionIn,
                 actor: Principal = Depends(require(*reviews.REVIEWERS))):
    """retain (reason, retain_days: the next review) or release (reason): the protection is removed and the
    default rule applies from then, never sooner than the policy's minimum days; 409 before a case's
    retain_until."""
    return await reviews.decide(s, actor, ctx, review_id, body)
