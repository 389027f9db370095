"""policies/sar.yaml: how subject access requests are handled (validated at start-up like the others)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SarPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    default_regime: Literal["law_enforcement", "uk_gdpr"] = "law_enforcement"
    # UK bank holiday calendar for the next-working-day rule: ENG (England and Wales), SCT, NIR.
    bank_holidays: Literal["ENG", "WLS", "SCT", "NIR"] = "ENG"
    max_window_days: int = Field(default=31, ge=1, le=366)
    due_soon_days: int = Field(default=7, ge=1, le=31)
    max_extension_months: int = Field(default=2, ge=0, le=2)
    share_expires_days: int = Field(default=28, ge=1, le=365)
    share_max_downloads: int = Field(default=5, ge=1, le=1000)
