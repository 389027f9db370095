"""UTC time helpers: every time in bodycam is timezone-aware UTC and rendered as ISO 8601 with Z."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC (SQLite returns them naive)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return as_utc(value).isoformat().replace("+00:00", "Z")


def parse_time(value: str | None, name: str) -> datetime | None:
    """A query-string time: ISO 8601 with a timezone, or a 422 naming the parameter."""
    from service.errors import Invalid

    if value is None or value == "":
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError as e:
        raise Invalid(f"{name} is not an ISO 8601 time: {value!r}", slug="invalid-time") from e
    if dt.tzinfo is None:
        raise Invalid(f"{name} must include a timezone (e.g. 2026-11-22T10:15:00Z)", slug="invalid-time")
    return as_utc(dt)
