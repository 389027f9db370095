"""The job rows' SQL: a row by its key, locked and reloaded; the rows a dead worker left behind."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


async def get(s: AsyncSession, model: type, key: str, *, for_update: bool = False) -> Any:
    return await s.get(model, key, with_for_update=for_update, populate_existing=True)


async def stuck(s: AsyncSession, model: type, status: str, updated_at: str, statuses: Iterable[str],
                before: datetime) -> list[Any]:
    """Rows in one of *statuses* not touched since *before*, locked; rows another janitor holds are skipped."""
    q = (select(model).where(getattr(model, status).in_(list(statuses)), getattr(model, updated_at) < before)
         .with_for_update(skip_locked=True))
    return list((await s.execute(q)).scalars())
