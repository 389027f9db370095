"""Camera clock drift in words, and the geometry of the device page's drift chart (server-rendered SVG:
no chart library, nothing for the CSP to refuse)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from service.web.render import templates

UNITS = ((365 * 86400, "year"), (86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


def drift_words(seconds: float | None) -> str:
    """``server - camera`` as a person reads it: positive drift means the camera's clock is behind."""
    if seconds is None:
        return "–"
    s = abs(seconds)
    if s < 1:
        return "none"
    parts = []
    for size, name in UNITS:
        n = int(s // size)
        if n:
            parts.append(f"{n} {name}{'' if n == 1 else 's'}")
            s -= n * size
        if len(parts) == 2:  # two units are enough to judge a clock
            break
    return f"{' '.join(parts)} {'slow' if seconds > 0 else 'fast'}"


templates.env.filters["drift_words"] = drift_words


@dataclass
class Point:
    x: float
    y: float
    at: datetime
    drift_s: float
    fault: str | None


@dataclass
class Chart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    zero_y: float
    points: list[Point]
    y_max: float
    y_min: float
    first: datetime
    last: datetime

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def drift_chart(history: list, width: int = 640, height: int = 220) -> Chart | None:
    """Drift against time, oldest first; the y range always includes zero (a correct clock)."""
    checks = sorted(history, key=lambda c: c.at)
    if not checks:
        return None
    left, right, top, bottom = 150, width - 20, 16, height - 34
    lo = min(0.0, *(c.drift_s for c in checks))
    hi = max(0.0, *(c.drift_s for c in checks))
    if hi == lo:
        hi, lo = hi + 1, lo - 1
    t0, t1 = checks[0].at.timestamp(), checks[-1].at.timestamp()
    span = (t1 - t0) or 1.0

    def y(v: float) -> float:
        return bottom - (v - lo) / (hi - lo) * (bottom - top)

    points = [Point(x=(left + right) / 2 if t0 == t1 else left + (c.at.timestamp() - t0) / span * (right - left),
                    y=y(c.drift_s), at=c.at, drift_s=c.drift_s, fault=c.fault) for c in checks]
    return Chart(width=width, height=height, left=left, right=right, top=top, bottom=bottom, zero_y=y(0.0),
                 points=points, y_max=hi, y_min=lo, first=checks[0].at, last=checks[-1].at)
