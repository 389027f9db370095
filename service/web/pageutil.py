"""Small translations between console forms/links and API parameters (no rules: the API decides)."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from service.errors import Invalid

PAGE_SIZE = 50


def limit_of(value: str | None) -> int:
    """The page size a link asked for (the API bounds it; a junk value is the default)."""
    try:
        return int(value) if value else PAGE_SIZE
    except ValueError:
        return PAGE_SIZE


def day_param(value: str | None, name: str, *, end: bool = False) -> str | None:
    """A date field as the API's ISO time: the start of that day (UTC), or for an end date the end of
    it, so "to 3 March" includes footage from 3 March."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError as e:
        raise Invalid(f"{name} is not a date (YYYY-MM-DD): {value!r}", slug="invalid-time") from e
    return f"{(day + timedelta(days=1)) if end else day}T00:00:00Z"


def utc_field(value: str | None) -> str | None:
    """A ``date`` or ``datetime-local`` field (it has no zone; the labels say UTC) as ISO 8601 UTC. Anything
    that does not parse is passed on as typed, so the API's own validation explains what is wrong."""
    value = value.strip() if isinstance(value, str) else None
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return value
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


CLIP_FIELDS = ("clip_start_s", "clip_end_s")


def number_field(value: Any) -> Any:
    """A number field's text as the number the API's JSON would carry (the models take no strings for
    seconds); text that is not a number is passed on, so the model's own message explains it."""
    try:
        number = float(value) if isinstance(value, str) and value.strip() else None
    except ValueError:
        return value
    return number if number is not None and math.isfinite(number) else value


def with_numbers(form: dict[str, Any], fields: tuple[str, ...] = CLIP_FIELDS) -> dict[str, Any]:
    return {k: number_field(v) if k in fields else v for k, v in form.items()}


def yes_no(value: str | None) -> bool | None:
    return {"yes": True, "no": False}.get(value or "")


def split_ids(text: str | None) -> list[str]:
    """People or recording ids typed into one field, separated by commas, spaces or new lines."""
    return [x for x in re.split(r"[\s,;]+", text or "") if x]


def next_url(path: str, params: dict[str, Any], cursor: str | None) -> str | None:
    """The "next page" link: the same filters, the API's cursor."""
    if not cursor:
        return None
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode({**kept, 'cursor': cursor})}"
