from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from service.ingest.models import Upload, UploadPart, UploadStatus
from service.recordings.models import MediaStatus, Recording, RecordingStatus


async def get_upload(session: AsyncSession, upload_id: str, *, for_update: bool = False) -> Upload | None:
    return await session.get(Upload, upload_id, with_for_update=for_update, populate_existing=True)


async def find_open_upload(session: AsyncSession, device_id: str, sha256: str, size: int) -> Upload | None:
    q = (select(Upload).where(Upload.device_id == device_id, Upload.sha256 == sha256,
                              Upload.size_bytes == size, Upload.status == UploadStatus.OPEN)
         .order_by(Upload.created_at.desc()).limit(1))
    return (await session.execute(q)).scalars().first()


async def parts(session: AsyncSession, upload_id: str) -> list[UploadPart]:
    q = select(UploadPart).where(UploadPart.upload_id == upload_id).order_by(UploadPart.n)
    return list((await session.execute(q.execution_options(populate_existing=True))).scalars())


async def bytes_except(session: AsyncSession, upload_id: str, n: int) -> int:
    q = select(func.coalesce(func.sum(UploadPart.size), 0)).where(UploadPart.upload_id == upload_id,
                                                                  UploadPart.n != n)
    return int((await session.execute(q)).scalar_one())


async def get_part(session: AsyncSession, upload_id: str, n: int) -> UploadPart | None:
    return await session.get(UploadPart, (upload_id, n), populate_existing=True)


async def delete_parts(session: AsyncSession, upload_id: str) -> None:
    await session.execute(delete(UploadPart).where(UploadPart.upload_id == upload_id))


async def stale_open_uploads(session: AsyncSession, older_than: datetime, limit: int = 100) -> list[Upload]:
    q = (select(Upload).where(Upload.status == UploadStatus.OPEN, Upload.updated_at < older_than)
         .order_by(Upload.updated_at).limit(limit))
    return list((await session.execute(q)).scalars())


async def unpurged_uploads(session: AsyncSession, limit: int = 100) -> list[Upload]:
    q = (select(Upload).where(Upload.status.in_((UploadStatus.COMPLETED, UploadStatus.ABANDONED)), Upload.staging_purged.is_(False))
         .limit(limit))
    return list((await session.execute(q)).scalars())


async def delete_direct_parts(session: AsyncSession, upload_id: str) -> None:
    await session.execute(delete(UploadPart).where(UploadPart.upload_id == upload_id, UploadPart.etag.is_not(None)))


async def pending_probes(session: AsyncSession, received_before: datetime, limit: int = 500) -> list[str]:
    """Recordings still waiting for their probe a while after they were received: probes lost to a crash
    or a dead worker."""
    q = (select(Recording.id).where(Recording.media_status == MediaStatus.PENDING, Recording.status == RecordingStatus.ACTIVE,
                                    Recording.received_at < received_before).limit(limit))
    return list((await session.execute(q)).scalars())


# One complete at a time per upload, across every replica: a session-level advisory lock, held on its own
# connection while the complete runs. A replica that dies drops its connection and so its lock.
_COMPLETE_LOCK = "SELECT pg_try_advisory_lock(hashtextextended(:key, 0))"
_COMPLETE_UNLOCK = "SELECT pg_advisory_unlock(hashtextextended(:key, 0))"


async def try_lock_completion(conn: AsyncConnection, upload_id: str) -> bool:
    """True when this connection now holds the upload's completion lock (always, off PostgreSQL: an
    embedded server is one process, which keeps its own set)."""
    if conn.dialect.name != "postgresql":
        return True
    got = (await conn.execute(text(_COMPLETE_LOCK), {"key": f"bwv-complete:{upload_id}"})).scalar_one()
    await conn.commit()  # the lock outlives the transaction; the connection is not left idle in one
    return bool(got)


async def unlock_completion(conn: AsyncConnection, upload_id: str) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(text(_COMPLETE_UNLOCK), {"key": f"bwv-complete:{upload_id}"})
        await conn.commit()
