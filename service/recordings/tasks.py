"""The media probe job: read the stored bytes with ffprobe between two short transactions (the probe can
take minutes; no row stays locked meanwhile)."""

from __future__ import annotations

from service.auth.schemas import system_principal
from service.context import Context
from service.db import transaction
from service.media import probe_async
from service.media.source import media_source
from service.recordings import service


async def apply_probe(ctx: Context, recording_id: str) -> str:
    """Probe the stored media and record what it is ("readable", "unreadable" or "skipped")."""
    async with transaction(ctx.sessions) as s:
        key = await service.probe_key(s, recording_id)
    if key is None:
        return "skipped"
    source = await media_source(ctx.store, key)
    info = await probe_async(source) if source is not None else None
    async with transaction(ctx.sessions) as s:
        return await service.record_probe(s, system_principal("media-probe"), recording_id, info)
