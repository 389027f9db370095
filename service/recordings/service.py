"""Recordings: created from completed uploads, viewed (always audited), streamed with Range."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from service import metrics
from service.audit import service as audit
from service.auth.schemas import Principal, system_principal
from service.context import Context
from service.db import transaction
from service.devices import service as devices
from service.errors import Conflict, RangeNotSatisfiable
from service.ingest.models import Upload
from service.media import probe_async
from service.media.source import media_source
from service.recordings import repository as repo
from service.recordings.access import readable
from service.recordings.models import Recording, RecordingAccess
from service.retention import rules
from service.retention import service as retention
from service.retention.policy import Policies


async def create_from_upload(s: AsyncSession, policies: Policies, actor: Principal, upload: Upload,
                             recording_id: str, key: str, *, hash_method: str,
                             storage_version: str | None = None) -> Recording:
    received = upload.created_at
    basis_start = upload.trusted_start or received
    basis_end = upload.trusted_end or received
    rec = Recording(id=recording_id, device_id=upload.device_id, officer_id=upload.officer_id,
                    dock_id=upload.dock_id, upload_id=upload.id, filename=upload.filename,
                    content_type=upload.content_type, size_bytes=upload.size_bytes, sha256=upload.sha256,
                    storage_key=key, storage_version=storage_version, received_at=received, recorded_start=upload.recorded_start,
                    recorded_end=upload.recorded_end, device_clock_at_dock=upload.device_clock_at_dock,
                    drift_s=upload.drift_s, time_trust=upload.time_trust, trusted_start=upload.trusted_start,
                    trusted_end=upload.trusted_end, basis_start=basis_start, basis_end=basis_end,
                    media=None, media_status="pending", status="active",
                    retention_category=policies.retention.default_category, restricted=False)
    rec.delete_after = rules.delete_after(policies.retention, basis_start=basis_start, received_at=received)
    s.add(rec)
    await s.flush()
    await retention.on_new_recording(s, policies, actor, rec)
    await audit.record(s, actor, "recording.created", "recording", rec.id,
                       {"upload_id": upload.id, "sha256": rec.sha256, "size_bytes": rec.size_bytes,
                        "hash_verified_by": "server", "hash_method": hash_method,
                        "device_id": rec.device_id, "officer_id": rec.officer_id,
                        "recorded_start": rec.recorded_start, "trusted_start": rec.trusted_start,
                        "time_trust": rec.time_trust, "drift_s": rec.drift_s,
                        "delete_after": rec.delete_after, "storage_key": key})
    return rec


async def view(ctx: Context, actor: Principal, recording_id: str) -> Recording:
    async with transaction(ctx.sessions) as s:
        rec = await readable(s, actor, recording_id)
        await audit.record(s, actor, "recording.viewed", "recording", rec.id, {})
        return rec


@dataclass
class ByteRange:
    start: int
    end: int  # exclusive
    partial: bool


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> ByteRange:
    """One byte range (RFC 9110 §14.1.2); anything else is served whole, as the RFC allows."""
    if not header or "," in header:
        return ByteRange(0, size, False)
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return ByteRange(0, size, False)
    if not m.group(1):  # suffix: the last N bytes
        n = int(m.group(2))
        if n == 0:
            raise RangeNotSatisfiable("A zero-length suffix range selects nothing.",
                                      headers={"Content-Range": f"bytes */{size}"})
        return ByteRange(max(0, size - n), size, True)
    start = int(m.group(1))
    end = min(int(m.group(2)) + 1, size) if m.group(2) else size
    if start >= size or end <= start:
        raise RangeNotSatisfiable(f"Range {header} is outside the {size} bytes of this recording.",
                                  headers={"Content-Range": f"bytes */{size}"})
    return ByteRange(start, end, True)


def ranged_response(body: AsyncIterator[bytes], rng: ByteRange, size: int, media_type: str, *, etag: str,
                    filename: str):
    """A streamed body answering a (possibly partial) GET: 206 with Content-Range, or 200.

    Whatever the bytes are, a browser must never run them as a page of this origin (an HTML file
    docked as "video"): attachment and a sandbox CSP make a direct visit a download in an opaque
    origin, nosniff stops type guessing. A <video src> ignores all three and plays as before.
    """
    from fastapi.responses import StreamingResponse

    headers = {"Accept-Ranges": "bytes", "Content-Length": str(rng.end - rng.start), "ETag": f'"{etag}"',
               "Cache-Control": "private, no-store", "Content-Disposition": f'attachment; filename="{filename}"',
               "Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}
    if rng.partial:
        headers["Content-Range"] = f"bytes {rng.start}-{rng.end - 1}/{size}"
    return StreamingResponse(body, status_code=206 if rng.partial else 200, headers=headers, media_type=media_type)


async def open_media(ctx: Context, actor: Principal, recording_id: str,
                     range_header: str | None) -> tuple[Recording, ByteRange, AsyncIterator[bytes]]:
    async with transaction(ctx.sessions) as s:
        rec = await readable(s, actor, recording_id)
        rng = parse_range(range_header, rec.size_bytes)
        await audit.record(s, actor, "recording.media_accessed", "recording", rec.id,
                           {"range": [rng.start, rng.end - 1] if rng.partial else None,
                            "user_agent": actor.user_agent})
    return rec, rng, ctx.store.read(rec.storage_key, rng.start, rng.end)


async def apply_probe(ctx: Context, recording_id: str) -> str:
    """Probe the stored media and record what it is. Unreadable media is kept and alerted."""
    async with ctx.sessions() as s:
        rec = await repo.get(s, recording_id)
        if rec is None or rec.status != "active" or rec.media_status == "done":
            return "skipped"
        key = rec.storage_key
    source = await media_source(ctx.store, key)
    info = await probe_async(source) if source is not None else None
    actor = system_principal("media-probe")
    async with transaction(ctx.sessions) as s:
        rec = await repo.get(s, recording_id, for_update=True)
        if rec is None or rec.status != "active" or rec.media_status == "done":
            return "skipped"
        media = info.as_dict() if info else {"readable": False}
        rec.media, rec.media_status = media, "done"
        await audit.record(s, actor, "recording.probed", "recording", rec.id,
                           {**media, "error": info.error if info else "storage gave no readable source"})
        if not media["readable"]:
            metrics.MEDIA_UNREADABLE.inc()
            await devices.raise_alert(s, "unreadable_media", "recording", rec.id,
                                      f"Recording {rec.id} from camera {rec.device_id} could not be read by "
                                      f"ffprobe; it is kept unchanged.",
                                      {"device_id": rec.device_id, "error": info.error if info else None})
    return "readable" if media["readable"] else "unreadable"



async def restrict(ctx: Context, actor: Principal, recording_id: str, people: list[str], reason: str) -> Recording:
    """After a serious incident: only the named people (and auditors) may see it from now on."""
    async with transaction(ctx.sessions) as s:
        rec = await readable(s, actor, recording_id, for_update=True)
        await s.execute(delete(RecordingAccess).where(RecordingAccess.recording_id == rec.id))
        s.add_all([RecordingAccess(recording_id=rec.id, sub=p) for p in people])
        rec.restricted = True
        await audit.record(s, actor, "recording.restricted", "recording", rec.id, {"people": people, "reason": reason})
        return rec


async def unrestrict(ctx: Context, actor: Principal, recording_id: str, reason: str) -> Recording:
    async with transaction(ctx.sessions) as s:
        rec = await readable(s, actor, recording_id, for_update=True)
        if not rec.restricted:
            raise Conflict(f"Recording {rec.id} is not restricted.", slug="not-restricted")
        await s.execute(delete(RecordingAccess).where(RecordingAccess.recording_id == rec.id))
        rec.restricted = False
        await audit.record(s, actor, "recording.unrestricted", "recording", rec.id, {"reason": reason})
        return rec
