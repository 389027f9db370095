"""UTC time helpers: every time in bodycam is timezone-aware UTC and rendered as ISO 8601 with Z."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AwareDatetime, BeforeValidator, WithJsonSchema


def _text_only(value: object) -> object:
    if not isinstance(value, str | datetime):  # pydantic would read 0 as 1970-01-01: the OpenAPI says a string
        raise ValueError("must be an ISO 8601 time with a timezone")
    return value


# A body's time: an ISO 8601 string with a timezone, never a number.
Instant = Annotated[AwareDatetime, BeforeValidator(_text_only)]

# A query-string time as the OpenAPI states it; the endpoint parses it with parse_time (invalid-time),
# which takes an empty value (what an HTML form sends for a blank field) as no time at all.
IsoTime = Annotated[str, WithJsonSchema({
    "anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "maxLength": 0}],
    "description": "ISO 8601 with a timezone, e.g. 2026-11-22T10:15:00Z (empty: none)"})]


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
    try:
        return as_utc(dt)
    except OverflowError as e:  # 0001-01-01T00:00+01:00 is before the first instant there is in UTC
        raise Invalid(f"{name} is outside the years 1 to 9999 in UTC: {value!r}", slug="invalid-time") from e
