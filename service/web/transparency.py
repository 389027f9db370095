"""The public transparency page: what happened to footage, month by month, from /v1/stats (counts only)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Request

from service.deps import SessionDep
from service.stats import service as stats_service
from service.timeutil import utcnow
from service.web.deps import optional_principal
from service.web.render import console_router, render

router = console_router()
MONTHS = 12
CHARTS = [("uploaded", "Recordings uploaded"), ("auto_deleted", "Deleted automatically after their retention period"),
          ("flagged", "Flagged (evidence, complaint, training)"), ("shared", "Shared with the CPS"),
          ("sars_received", "Subject access requests received"), ("sars_closed", "Subject access requests answered"),
          ("sars_overdue", "Subject access requests answered late or overdue")]
BAR_W, GAP, CHART_H, TOP = 34, 8, 140, 18


def _months(now: datetime) -> list[str]:
    y, m = now.year, now.month
    out = []
    for _ in range(MONTHS):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


def _chart(series: list[tuple[str, int]]) -> dict:
    """Bar geometry for a server-rendered SVG (no script, so it shows with JS off and prints)."""
    peak = max((v for _, v in series), default=0) or 1
    bars = []
    for i, (month, value) in enumerate(series):
        h = round(CHART_H * value / peak)
        x = i * (BAR_W + GAP)
        bars.append({"x": x, "y": TOP + CHART_H - h, "h": h, "value": value, "label": month[2:].replace("-", "/"),
                     "cx": x + BAR_W // 2})
    return {"bars": bars, "width": len(series) * (BAR_W + GAP), "height": TOP + CHART_H + 20, "bar_w": BAR_W,
            "base_y": TOP + CHART_H}


@router.get("/transparency")
async def transparency(request: Request, s: SessionDep):
    # Before this request's transaction begins: on SQLite the principal's own session would wait for it.
    me = await optional_principal(request)
    now = utcnow()
    months = _months(now)
    start = datetime(int(months[0][:4]), int(months[0][5:]), 1, tzinfo=UTC)
    data = (await stats_service.stats(s, start, now, now)).model_dump()
    by_month = {m["month"]: m for m in data["months"]}
    rows = [{"month": m, **{k: by_month.get(m, {}).get(k, 0) for k, _ in CHARTS}} for m in months]
    charts = [{"key": k, "title": t, "total": data["totals"][k], **_chart([(r["month"], r[k]) for r in rows])}
              for k, t in CHARTS]
    return render(request, "transparency.html", me, title="Transparency: body-worn video", charts=charts, rows=rows,
                  columns=CHARTS, start=start, now=now, totals=data["totals"])
