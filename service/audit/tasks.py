"""Audit jobs: the periodic signed checkpoint (every ``BWV_CHECKPOINT_INTERVAL_S`` when new events exist)."""

from __future__ import annotations

from service.audit import service as audit
from service.auth.schemas import system_principal
from service.context import Context
from service.db import transaction
from service.jobs import JobName

CHECKPOINTER = system_principal("audit-checkpoint")


async def audit_checkpoint(ctx: Context) -> int | None:
    """Sign the chain head if it moved since the last checkpoint; the seq signed (None: nothing new)."""
    async with transaction(ctx.sessions) as s:
        cp = await audit.make_checkpoint(s, CHECKPOINTER, ctx)
        return cp.seq if cp is not None else None


JOBS = {JobName.AUDIT_CHECKPOINT: audit_checkpoint}
CRON = [(JobName.AUDIT_CHECKPOINT, lambda settings: settings.checkpoint_interval_s)]
