from __future__ import annotations

from pydantic import BaseModel


class NotifyReport(BaseModel):
    """What one notification run did: mails sent, failed (after retries, alerted), or only composed."""

    composed: int = 0
    sent: int = 0
    failed: int = 0
    dry_run: bool = False
    mails: list[dict] = []
