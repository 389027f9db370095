from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from service.stats import service
from service.timeutil import iso, parse_time, utcnow

router = APIRouter(tags=["stats"])


@router.get("/v1/stats")
async def stats(request: Request, from_: str | None = Query(None, alias="from"), to: str | None = None):
    """Public transparency figures per month (no login: counts only, no personal data)."""
    end = parse_time(to, "to") or utcnow()
    start = parse_time(from_, "from") or end - timedelta(days=365)
    out = await service.stats(request.app.state.ctx, start, end)
    body = out.model_dump(mode="json", by_alias=False)
    body["from"], body["to"] = iso(start), iso(end)
    body.pop("from_", None)
    return JSONResponse(body)
