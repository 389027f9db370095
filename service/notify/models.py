from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class MailKind(StrEnum):
    """Who gets what: officers their footage due for deletion (weekly), supervisors the reviews due
    (daily), SAR handlers the requests due within 7 days or overdue (daily; ids and dates only)."""

    OFFICER_DIGEST = "officer_digest"
    REVIEWS_DUE = "reviews_due"
    SARS_DUE = "sars_due"
    TEST = "test"


WEEKLY = (MailKind.OFFICER_DIGEST,)
DAILY = (MailKind.REVIEWS_DUE, MailKind.SARS_DUE)


@dataclass
class Mail:
    kind: MailKind
    username: str
    to: str
    subject: str
    body: str
    count: int
    ids: list[str] = field(default_factory=list)
