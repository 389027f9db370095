from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from service.deps import SessionDep
from service.errors import problems
from service.stats import service
from service.stats.schemas import StatsOut
from service.timeutil import IsoTime, iso, parse_time, utcnow

router = APIRouter(tags=["stats"], responses=problems(422))


@router.get("/v1/stats", response_model=StatsOut)
async def stats(s: SessionDep,
                from_: IsoTime | None = Query(None, alias="from",
                                          description="Any instant: selects the whole UTC month it falls in."),
                to: IsoTime | None = Query(None, description="Any instant: selects the whole UTC month it falls in "
                                                         "(inclusive). Default: the current month.")):
    """Public transparency figures per whole calendar month (UTC; no login: counts only, no personal data).

    ``from`` and ``to`` choose months, never a narrower window; the answer's ``from`` and ``to`` are the
    window actually counted, ``[from, to)``, from the first instant of the first month to the first
    instant after the last. Default: the twelve months up to and including the current one."""
    out = await service.stats(s, parse_time(from_, "from"), parse_time(to, "to"), utcnow())
    body = out.model_dump(mode="json", by_alias=True)
    body["from"], body["to"] = iso(out.from_), iso(out.to)  # with a Z, as every time in the API
    return JSONResponse(body)
