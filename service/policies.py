"""Every policy file's model: policies/retention.yaml, clock.yaml and sar.yaml, validated by pydantic at
start-up (shared by retention, devices' clock decision, ingest and SAR, so none of them imports another).

An invalid file stops start-up with one line naming the file, the line and the problem.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from service.config import ConfigError


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    retain_days: int | None = Field(default=None, ge=1)  # None = kept until the category is removed
    review_after_days: int | None = Field(default=None, ge=1)
    requires_consent: bool = False


class RetentionPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    min_days_after_upload: int = Field(ge=0)
    default_category: str = "default"
    categories: dict[str, Category]
    # Kept footage whose capture is older than this moves to cold storage (None: never).
    cold_after_days: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _default_exists(self) -> RetentionPolicy:
        if self.default_category not in self.categories:
            raise ValueError(f"default_category {self.default_category!r} is not among the categories")
        if self.categories[self.default_category].retain_days is None:
            raise ValueError("the default category must have a retain_days period")
        if "evidence" not in self.categories:
            raise ValueError("an 'evidence' category is required (flags use it)")
        return self


class ClockPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    max_drift_s: float = Field(gt=0)
    earliest_plausible: datetime
    future_tolerance_s: float = Field(ge=0)
    max_correction_age_days: float = Field(gt=0)


class SarPolicy(BaseModel):
    """How subject access requests are handled."""

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


class Policies(BaseModel):
    retention: RetentionPolicy
    clock: ClockPolicy
    sar: SarPolicy


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Follow a pydantic error location through the YAML node tree to a 1-based line number."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == str(part)), None)
            if nxt is None:
                nxt = next((k for k, _ in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            nxt = node.value[part]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line


def load_file(path: Path, model: type[BaseModel]) -> Any:
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"policy {path}: cannot read ({e.strerror})") from e
    try:
        data = yaml.safe_load(text)
        tree = yaml.compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"policy {path}{where}: not valid YAML ({getattr(e, 'problem', e)})") from e
    try:
        return model.model_validate(data or {})
    except ValidationError as e:
        err = e.errors()[0]
        line = _line_of(tree, tuple(err["loc"]))
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        where = f" line {line}" if line else ""
        raise ConfigError(f"policy {path}{where}: {field}: {err['msg']}") from e


def load_policies(policy_dir: Path) -> Policies:
    return Policies(retention=load_file(policy_dir / "retention.yaml", RetentionPolicy),
                    clock=load_file(policy_dir / "clock.yaml", ClockPolicy),
                    sar=load_file(policy_dir / "sar.yaml", SarPolicy))
