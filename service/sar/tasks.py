"""SAR jobs: build a disclosure's bundle; redact an item; re-queue redactions a dead worker left behind;
deadline alerts."""

from __future__ import annotations

from service.context import Context
from service.db import transaction
from service.jobs import JobName
from service.sar import disclose, faces, redaction, service


async def redact_sar_item(ctx: Context, item_id: str, run: str) -> str:
    return await redaction.run(ctx, item_id, run)


async def find_sar_item_faces(ctx: Context, item_id: str, run: str) -> str:
    return await faces.run(ctx, item_id, run)


async def sar_janitor(ctx: Context) -> int:
    return await redaction.requeue_stuck(ctx) + await faces.requeue_stuck(ctx)


async def sar_deadlines(ctx: Context) -> dict[str, int]:
    async with transaction(ctx.sessions) as s:
        return await service.check_deadlines(s, ctx)


JOBS = {JobName.BUILD_SAR_BUNDLE: disclose.build_sar_bundle, JobName.REDACT_SAR_ITEM: redact_sar_item,
        JobName.FIND_SAR_ITEM_FACES: find_sar_item_faces, JobName.SAR_JANITOR: sar_janitor, JobName.SAR_DEADLINES: sar_deadlines}
CRON = [(JobName.SAR_JANITOR, lambda settings: settings.janitor_interval_s),
        (JobName.SAR_DEADLINES, lambda settings: settings.sar_deadline_interval_s)]
