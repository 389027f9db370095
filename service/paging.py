"""Cursor paging shared by every list endpoint: ``?limit=`` (1-500, default 50) and ``?cursor=``."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from service.errors import Invalid, bounded_query, query_problem

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class PageParams(BaseModel):
    limit: int
    after: list[Any] | None


MAX_LIMIT = 500
CURSOR_PATTERN = "^[A-Za-z0-9_-]*$"

Cursor = Annotated[str | None, Query(
    pattern=CURSOR_PATTERN, max_length=4096,
    description="Opaque: the next_cursor of the previous page of this list, as given (unpadded base64url).")]


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, default=str).encode()).decode().rstrip("=")


def _not_issued() -> Invalid:
    return Invalid("cursor is not one this server issued", slug="invalid-cursor")


query_problem("cursor", {"string_pattern_mismatch", "string_too_long"}, _not_issued)


def decode_cursor(cursor: str) -> list[Any]:
    """The key a cursor carries; ``invalid-cursor`` for anything :func:`encode_cursor` cannot have made."""
    try:
        # validate=True: characters outside base64url are refused, not skipped (the OpenAPI's pattern).
        after = json.loads(base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True))
        if not isinstance(after, list):
            raise ValueError
    except (ValueError, RecursionError) as e:  # RecursionError: "[[[[…" nested past the parser's depth
        raise _not_issued() from e
    return after


def page_params(limit: Annotated[int, bounded_query("limit", 1, MAX_LIMIT)] = 50,
                cursor: Cursor = None) -> PageParams:
    # The console calls this directly, past FastAPI's checks of the declared bounds.
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}", slug="invalid-limit")
    return PageParams(limit=limit, after=decode_cursor(cursor) if cursor else None)


def _foreign() -> Invalid:
    return Invalid("cursor is not one this list issued", slug="invalid-cursor")


def after_id(page: PageParams) -> str | None:
    """The id of the last item of the previous page, for lists keyed by id alone."""
    if not page.after:
        return None
    if len(page.after) != 1 or not isinstance(page.after[0], str):
        raise _foreign()
    return page.after[0]


def after_seq(page: PageParams) -> int:
    if not page.after:
        return 0
    if len(page.after) != 1 or not isinstance(page.after[0], int) or isinstance(page.after[0], bool):
        raise _foreign()
    return page.after[0]


def after_time_id(page: PageParams) -> tuple[datetime, str] | None:
    """(time, id) of the last item, for lists ordered by a time and then the id."""
    if not page.after:
        return None
    try:
        at, rid = page.after
        if not isinstance(at, str) or not isinstance(rid, str):
            raise ValueError
        when = datetime.fromisoformat(at)
    except ValueError as e:
        raise _foreign() from e
    return (when if when.tzinfo else when.replace(tzinfo=UTC)), rid


def after_due_id(page: PageParams) -> tuple[datetime | None, str] | None:
    """(time or None, id) of the last item, for lists ordered by a nullable time (nulls last), then the id."""
    if not page.after:
        return None
    if len(page.after) == 2 and page.after[0] is None and isinstance(page.after[1], str):
        return None, page.after[1]
    return after_time_id(page)


def cut(rows: list[T], page: PageParams, key) -> tuple[list[T], str | None]:
    """Rows were fetched with ``limit + 1``: return this page and the cursor for the next, if any."""
    if len(rows) <= page.limit:
        return rows, None
    rows = rows[: page.limit]
    return rows, encode_cursor(key(rows[-1]))
