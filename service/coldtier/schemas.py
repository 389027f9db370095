from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class TierMonth(BaseModel):
    at: datetime = Field(description="the end of the month ahead this row forecasts")
    hot_bytes: int
    cold_bytes: int
    hot_recordings: int
    cold_recordings: int


class TierForecast(BaseModel):
    """How many bytes each tier will hold at the end of each month ahead, for the footage stored now, under
    the retention policy: deleted at its ``delete_after``, cold ``cold_after_days`` after capture while kept."""

    as_of: datetime
    cold_after_days: int | None
    storage_class: str = Field(description="the cold tier's S3 storage class, or local-cold")
    months: list[TierMonth]
    note: str = "New uploads are not projected: add the intake you expect to the hot tier."


class MoveReport(BaseModel):
    moved: int = 0
    bytes: int = 0
    failed: int = 0
    hot_copies_removed: int = 0
    hot_copies_kept_by_lock: int = 0
    resumed: int = 0
