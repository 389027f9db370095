"""SAR jobs: redact an item; re-queue redactions a dead worker left behind; deadline alerts."""

from __future__ import annotations

from service.context import Context
from service.sar import redaction, service


async def redact_sar_item(ctx: Context, item_id: str, run: str) -> str:
    return await redaction.run(ctx, item_id, run)


async def sar_janitor(ctx: Context) -> int:
    return await redaction.requeue_stuck(ctx)


async def sar_deadlines(ctx: Context) -> dict[str, int]:
    return await service.check_deadlines(ctx)


JOBS = {"redact_sar_item": redact_sar_item, "sar_janitor": sar_janitor, "sar_deadlines": sar_deadlines}
CRON = [("sar_janitor", lambda settings: settings.janitor_interval_s),
        ("sar_deadlines", lambda settings: settings.sar_deadline_interval_s)]
