"""Working copies of masters browsers cannot play (service/media/workingcopy.py makes them). The master
stays byte-exact and is the exhibit; the copy, with its own SHA-256, is what the player, clips and
redaction read. Each copy is audited with both hashes and the ffmpeg that made it (continuity)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import service as audit
from service.auth.schemas import Principal
from service.media.workingcopy import needs_working_copy
from service.recordings import repository as repo
from service.recordings.models import Recording, RecordingStatus, WorkingCopyStatus
from service.timeutil import iso, utcnow


def playable_key(rec: Recording) -> str:
    """What players, clips and redaction read: the working copy once made, else the master."""
    if rec.working_copy_status == WorkingCopyStatus.READY and rec.working_copy_key:
        return rec.working_copy_key
    return rec.storage_key


def cut_from(rec: Recording) -> str:
    return "working_copy" if playable_key(rec) != rec.storage_key else "master"


def plan(rec: Recording, media: dict[str, Any]) -> bool:
    """After the probe: mark the recording as waiting for a working copy when browsers cannot play it."""
    if rec.working_copy_status is None and needs_working_copy(media):
        rec.working_copy_status = WorkingCopyStatus.PENDING
        return True
    return False


async def to_make(s: AsyncSession, recording_id: str) -> Recording | None:
    rec = await repo.get(s, recording_id)
    if rec is None or rec.status != RecordingStatus.ACTIVE or rec.working_copy_status != WorkingCopyStatus.PENDING:
        return None
    return rec


async def record_made(s: AsyncSession, actor: Principal, recording_id: str, *, key: str, sha256: str, size: int,
                      content_type: str, ffmpeg: str) -> bool:
    """Keep the copy; False when it is no longer wanted (made by another job, or the recording was deleted):
    the caller removes the object it wrote."""
    rec = await repo.get(s, recording_id, for_update=True)
    if rec is None or rec.status != RecordingStatus.ACTIVE or rec.working_copy_status != WorkingCopyStatus.PENDING:
        return False
    made_at = utcnow()
    rec.working_copy_status, rec.working_copy_key = WorkingCopyStatus.READY, key
    rec.working_copy_sha256, rec.working_copy_size_bytes = sha256, size
    rec.working_copy_info = {"content_type": content_type, "ffmpeg": ffmpeg, "made_at": iso(made_at)}
    await audit.record(s, actor, "recording.working_copy_made", "recording", rec.id,
                       {"master_sha256": rec.sha256, "working_copy_sha256": sha256, "size_bytes": size,
                        "content_type": content_type, "ffmpeg": ffmpeg, "master_container": (rec.media or {}).get(
                            "container")})
    return True


async def record_failed(s: AsyncSession, actor: Principal, recording_id: str, error: str) -> None:
    rec = await repo.get(s, recording_id, for_update=True)
    if rec is None or rec.working_copy_status != WorkingCopyStatus.PENDING:
        return
    rec.working_copy_status = WorkingCopyStatus.FAILED
    rec.working_copy_info = {"error": error[:300], "at": iso(utcnow())}
    await audit.record(s, actor, "recording.working_copy_failed", "recording", rec.id, {"error": error[:300]})
