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


class OutcomeRule(BaseModel):
    """How long a decided case's exhibits are kept (CPIA 1996 code of practice, para 5.9-5.10):
    ``retain_until`` is the latest of ``retain_months`` after the decision, the custody release (when
    ``until_custody_release``) and any ``appeal_until``; the exhibits come up for review on that date, or
    ``review_after_days`` after the decision when there is no such date."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    retain_months: int | None = Field(default=None, ge=0, le=1200)
    until_custody_release: bool = False
    review_after_days: int = Field(default=0, ge=0, le=36500)


OUTCOMES = ("no_further_action", "discontinued", "acquitted", "convicted", "other")


def _default_outcomes() -> dict[str, OutcomeRule]:
    return {"convicted": OutcomeRule(retain_months=6, until_custody_release=True),
            **{o: OutcomeRule(review_after_days=90) for o in OUTCOMES if o != "convicted"}}


class ReviewPolicy(BaseModel):
    """When protections come up for review (the police records management code asks for a recorded
    review of everything kept): holds by kind, days after they were placed; a retain decision sets the
    next review at most ``max_retain_days`` ahead."""

    model_config = ConfigDict(extra="forbid")

    holds: dict[str, int] = Field(default_factory=lambda: {"legal": 365, "complaint": 365, "iopc": 365,
                                                           "sar": 90, "case": 365})
    default_days: int = Field(default=365, ge=1, le=36500)  # a kept category without review_after_days
    max_retain_days: int = Field(default=2190, ge=1, le=36500)
    overdue_after_days: int = Field(default=14, ge=0, le=365)  # due this long undecided: overdue


class RetentionPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    min_days_after_upload: int = Field(ge=0)
    default_category: str = "default"
    categories: dict[str, Category]
    # Kept footage whose capture is older than this moves to cold storage (None: never).
    cold_after_days: int | None = Field(default=None, ge=1)
    case_outcomes: dict[str, OutcomeRule] = Field(default_factory=_default_outcomes)
    reviews: ReviewPolicy = Field(default_factory=ReviewPolicy)

    @model_validator(mode="after")
    def _default_exists(self) -> RetentionPolicy:
        if self.default_category not in self.categories:
            raise ValueError(f"default_category {self.default_category!r} is not among the categories")
        if self.categories[self.default_category].retain_days is None:
            raise ValueError("the default category must have a retain_days period")
        if "evidence" not in self.categories:
            raise ValueError("an 'evidence' category is required (flags use it)")
        missing = [o for o in OUTCOMES if o not in self.case_outcomes]
        if missing:
            raise ValueError(f"case_outcomes lacks {', '.join(missing)}")
        unknown = [o for o in self.case_outcomes if o not in OUTCOMES]
        if unknown:
            raise ValueError(f"case_outcomes: unknown outcome {', '.join(unknown)}; use {', '.join(OUTCOMES)}")
        bad = [k for k, d in self.reviews.holds.items() if d < 1]
        if bad:
            raise ValueError(f"reviews.holds: {', '.join(bad)} must be at least 1 day")
        return self

    def hold_review_days(self, kind: str) -> int:
        return self.reviews.holds.get(kind, self.reviews.default_days)

    def flag_review_days(self, category: str) -> int:
        cat = self.categories.get(category)
        return (cat.review_after_days if cat and cat.review_after_days else None) or self.reviews.default_days


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
