"""Cursor paging shared by every list endpoint: ``?limit=`` (1-500, default 50) and ``?cursor=``."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from service.errors import Invalid

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class PageParams(BaseModel):
    limit: int
    after: list[Any] | None


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, default=str).encode()).decode().rstrip("=")


def page_params(limit: int = Query(50, description="1-500"), cursor: str | None = Query(None)) -> PageParams:
    if not 1 <= limit <= 500:
        raise Invalid("limit must be between 1 and 500", slug="invalid-limit")
    after = None
    if cursor:
        try:
            after = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            if not isinstance(after, list):
                raise ValueError
        except ValueError as e:
            raise Invalid("cursor is not one this server issued", slug="invalid-cursor") from e
    return PageParams(limit=limit, after=after)


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


def cut(rows: list[T], page: PageParams, key) -> tuple[list[T], str | None]:
    """Rows were fetched with ``limit + 1``: return this page and the cursor for the next, if any."""
    if len(rows) <= page.limit:
        return rows, None
    rows = rows[: page.limit]
    return rows, encode_cursor(key(rows[-1]))
