"""Dock ingest: open an upload, receive parts in any order, complete with a server-computed hash.

Rule 3: a recording exists only after the server hashed the bytes it stored and they matched.
Rule 4: a failed request changes nothing: part bytes are staged under a fresh key and only become
part of the upload when the database row pointing at them commits.
Rule 6: every step is restartable; the janitor removes what a crash left behind.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from service import metrics
from service.alerts import service as alerts
from service.alerts.models import AlertKind
from service.audit import service as audit
from service.auth.roles import DOCKS, IMPORTERS, STAFF_UPLOADERS, UPLOADERS, require
from service.auth.schemas import Principal
from service.context import Context
from service.db import after_commit, transaction
from service.devices import clock as clock_rules
from service.devices import service as devices
from service.errors import Conflict, Gone, Invalid, NotFound, Problem, TooLarge
from service.ids import new_id
from service.ingest import assembly
from service.ingest import repository as repo
from service.ingest.models import Upload, UploadPart, UploadStatus
from service.ingest.schemas import UploadCreate, is_media_type
from service.jobs import JobName
from service.recordings import repository as recordings_repo
from service.recordings import service as recordings
from service.recordings.models import Recording, Source
from service.retention import service as retention
from service.storage.base import AssemblyRejected
from service.timeutil import utcnow

log = structlog.get_logger(__name__)

MAX_PARTS = 10_000  # the S3 limit; docks use far fewer


def staging_prefix(upload_id: str) -> str:
    return f"uploads/{upload_id}/"


@dataclass
class CreateResult:
    upload: Upload | None = None
    parts: list[UploadPart] | None = None
    duplicate_of: str | None = None
    resumed: bool = False


async def _counted() -> None:
    metrics.UPLOADS_CREATED.inc()


async def create_upload(s: AsyncSession, actor: Principal, ctx: Context, body: UploadCreate, *,
                        importing: bool = False) -> CreateResult:
    """A new upload; the same file again from the same device is a duplicate (nothing to send), and a dock
    asking again for an upload it has open resumes it. Docks bring body-worn video; staff upload CCTV and
    audio in their own name; ``importing``: `bwv import`, run by an operator (service/imports)."""
    require(actor, IMPORTERS if importing else DOCKS if body.source == Source.BWV else STAFF_UPLOADERS)
    if not is_media_type(body.content_type):
        # The declared type is never served (media goes out as the probed container), but a dock
        # that calls a file text/html is not docking footage.
        raise Problem(f"content_type {body.content_type[:100]!r} is not a video/* or audio/* type.",
                      status=415, slug="unsupported-media-type", title="Unsupported media type")
    if body.size_bytes > ctx.settings.max_upload_bytes:
        raise TooLarge(f"size_bytes {body.size_bytes} exceeds the limit of {ctx.settings.max_upload_bytes}.",
                       slug="upload-too-large")
    existing = await recordings_repo.find_by_hash(s, body.device_id, body.sha256)
    if existing is not None:
        metrics.UPLOAD_DUPLICATES.inc()
        await audit.record(s, actor, "upload.duplicate", "recording", existing.id,
                           {"device_id": body.device_id, "sha256": body.sha256, "filename": body.filename})
        return CreateResult(duplicate_of=existing.id)
    # A dock that lost our answer and asks again resumes the same upload instead of opening a second.
    resumable = await repo.find_open_upload(s, body.device_id, body.sha256, body.size_bytes)
    if resumable is not None and resumable.dock_id == actor.sub:
        return CreateResult(upload=resumable, parts=await repo.parts(s, resumable.id), resumed=True)

    now = utcnow()
    result = clock_rules.assess(ctx.policies.clock, now, body.device_clock_at_dock, body.recorded_start,
                                body.recorded_end)
    upload = Upload(id=new_id("up"), dock_id=actor.sub, device_id=body.device_id,
                    officer_id=body.officer_id, filename=body.filename, content_type=body.content_type,
                    size_bytes=body.size_bytes, sha256=body.sha256, recorded_start=body.recorded_start,
                    recorded_end=body.recorded_end, device_clock_at_dock=body.device_clock_at_dock,
                    created_at=now, updated_at=now, part_size=ctx.settings.part_size,
                    drift_s=result.drift_s, clock_fault=result.fault, time_trust=result.time_trust,
                    trusted_start=result.trusted_start, trusted_end=result.trusted_end, status=UploadStatus.OPEN,
                    source=body.source,
                    provenance=body.provenance.model_dump(mode="json", exclude_none=True) if body.provenance else None)
    s.add(upload)
    await s.flush()
    await devices.record_clock_check(s, actor, body.device_id, now, body.device_clock_at_dock, result,
                                     upload.id)
    await audit.record(s, actor, "upload.created", "upload", upload.id,
                       {"device_id": body.device_id, "officer_id": body.officer_id,
                        "filename": body.filename, "size_bytes": body.size_bytes, "sha256": body.sha256,
                        "drift_s": result.drift_s, "time_trust": result.time_trust,
                        "clock_fault": result.fault, "source": body.source,
                        "provenance": upload.provenance})
    after_commit(s, _counted)
    return CreateResult(upload=upload, parts=[])


async def _owned_upload(s, actor: Principal, upload_id: str, *, for_update: bool = False) -> Upload:
    upload = await repo.get_upload(s, upload_id, for_update=for_update)
    # Another dock's upload answers 404, not 403: upload ids are not to be probed. Staff (and an import)
    # reach only their own uploads; anything else is a dock's business, hence the role answer.
    if upload is None or upload.dock_id != actor.sub:
        if not actor.has(*DOCKS):
            require(actor, DOCKS)
        raise NotFound(f"No upload {upload_id!r}.", slug="upload-not-found")
    return upload


def _require_open(upload: Upload) -> None:
    if upload.status == UploadStatus.COMPLETED:
        raise Conflict(f"Upload {upload.id} is already complete (recording {upload.recording_id}).",
                       slug="upload-completed", recording_id=upload.recording_id)
    if upload.status != UploadStatus.OPEN:
        raise Gone(f"Upload {upload.id} was abandoned and cleaned up; start a new upload.",
                   slug="upload-abandoned")


async def upload_status(s: AsyncSession, actor: Principal, upload_id: str) -> tuple[Upload, list[UploadPart]]:
    require(actor, UPLOADERS)
    upload = await _owned_upload(s, actor, upload_id)
    return upload, await repo.parts(s, upload_id)


async def put_part(ctx: Context, actor: Principal, upload_id: str, n: int, body: AsyncIterator[bytes],
                   content_length: int | None) -> UploadPart:
    require(actor, UPLOADERS)
    async with ctx.sessions() as s:
        upload = await _owned_upload(s, actor, upload_id)
        _require_open(upload)
        if n < 1 or n > min(MAX_PARTS, upload.size_bytes):
            raise Invalid(f"Part number {n} is outside 1..{min(MAX_PARTS, upload.size_bytes)} for an upload "
                          f"of {upload.size_bytes} bytes.", slug="invalid-part-number")
        others = await repo.bytes_except(s, upload_id, n)
    allowance = min(upload.size_bytes - others, ctx.settings.max_part_size)
    if content_length is not None and content_length > allowance:
        raise TooLarge(f"Part {n} has {content_length} bytes but only {allowance} fit in the declared "
                       f"size {upload.size_bytes} (other parts hold {others}).", slug="part-too-large")

    version = new_id("v").split("_", 1)[1]
    key = f"{staging_prefix(upload_id)}{n}.{version}"
    stored = await assembly.store_part(ctx, upload, n, key, body, allowance)
    size, kept = stored.size, stored.kept
    # Only a staged object is ours to remove on failure; an assembly part is simply not recorded.
    staged = [stored.key] if stored.etag is None else []
    if size == 0:
        await ctx.store.delete(staged)
        raise Invalid(f"Part {n} is empty.", slug="empty-part")
    if content_length is not None and size != content_length:
        await ctx.store.delete(staged)
        raise Invalid(f"Part {n} ended after {size} of {content_length} bytes.", slug="truncated-part")

    old_key = None
    try:
        async with transaction(ctx.sessions) as s:
            upload = await _owned_upload(s, actor, upload_id, for_update=True)
            _require_open(upload)
            others = await repo.bytes_except(s, upload_id, n)
            if others + size > upload.size_bytes:
                raise TooLarge(f"Part {n} ({size} bytes) would take the upload past its declared size "
                               f"{upload.size_bytes}.", slug="part-too-large")
            part = await repo.get_part(s, upload_id, n)
            now = utcnow()
            if part is None:
                part = UploadPart(upload_id=upload_id, n=n, size=size, version=version, key=stored.key,
                                  etag=stored.etag, received_at=now)
                s.add(part)
            else:
                old_key = part.key if part.etag is None else None
                part.size, part.version, part.key, part.etag, part.received_at = (size, version, stored.key,
                                                                                  stored.etag, now)
            upload.updated_at = now
    except BaseException:
        await ctx.store.delete(staged)
        raise
    if old_key:
        await ctx.store.delete([old_key])  # the janitor's prefix purge catches it if this fails
    metrics.UPLOAD_BYTES.inc(size)
    await ctx.hashes.offer(upload_id, n, version, kept)
    return part


def _contiguous(parts: list[UploadPart]) -> list[int]:
    have = {p.n for p in parts}
    top = max(have, default=0)
    return [n for n in range(1, top + 1) if n not in have]


COMPLETE_RETRY_AFTER_S = 5
_COMPLETING: set[str] = set()  # the uploads this process is completing now


def _parts_changed(upload_id: str, why: str) -> Conflict:
    return Conflict(f"Storage no longer holds the parts of {upload_id} as recorded ({why}); re-send the parts "
                    "and complete again.", slug="parts-changed")


def _in_progress(upload_id: str) -> Conflict:
    return Conflict(f"Upload {upload_id} is being completed by another request; ask again shortly for its "
                    "recording.", slug="complete-in-progress",
                    headers={"Retry-After": str(COMPLETE_RETRY_AFTER_S)})


@asynccontextmanager
async def _completion_claim(ctx: Context, upload_id: str) -> AsyncIterator[None]:
    """Hold the upload's completion for this request, or answer 409 complete-in-progress.

    Two completes of one upload (a dock's retry landing on another replica) must not both assemble: the
    second used to discard the first's half-built recording as a crash's leftover while the first was still
    writing it. The claim is this process's set plus, on PostgreSQL, an advisory lock on a connection of its
    own, so a replica that dies mid-complete releases it with its connection and a retry can take over."""
    if upload_id in _COMPLETING:
        raise _in_progress(upload_id)
    _COMPLETING.add(upload_id)
    try:
        if ctx.settings.is_sqlite:
            yield
            return
        async with _complete_slots(ctx), ctx.engine.connect() as conn:
            if not await repo.try_lock_completion(conn, upload_id):
                raise _in_progress(upload_id)
            try:
                yield
            finally:
                try:
                    await repo.unlock_completion(conn, upload_id)
                except BaseException:
                    await conn.invalidate()  # never hand a connection that may still hold the lock back
                    raise
    finally:
        _COMPLETING.discard(upload_id)


_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _complete_slots(ctx: Context) -> asyncio.Semaphore:
    """At most half the pool's connections are held as completion locks, so the completes that hold them
    can always get another for their own transactions (otherwise a shift change's completes all at once could take
    every connection for locks, then wait out the pool's timeout). The rest wait here holding none."""
    loop = asyncio.get_running_loop()
    slots = _SLOTS.get(loop)
    if slots is None:
        size = getattr(ctx.engine.pool, "size", lambda: 10)()  # QueuePool; 10 where a pool has no size
        slots = _SLOTS[loop] = asyncio.Semaphore(max(2, size // 2))
    return slots


async def complete(ctx: Context, actor: Principal, upload_id: str, *,
                   then: Callable[[AsyncSession, Recording], Awaitable[None]] | None = None,
                   ) -> tuple[Recording, bool, bool]:
    """Returns (recording, created_now, duplicate). ``then`` runs in the transaction that creates the
    recording (an import's flags: the recording never exists without them)."""
    require(actor, UPLOADERS)
    async with ctx.sessions() as s:
        upload = await _owned_upload(s, actor, upload_id)
        if upload.status == UploadStatus.COMPLETED:
            return await recordings_repo.get(s, upload.recording_id), False, False
    async with _completion_claim(ctx, upload_id):
        return await _complete(ctx, actor, upload_id, then)


async def _complete(ctx: Context, actor: Principal, upload_id: str,
                    then: Callable[[AsyncSession, Recording], Awaitable[None]] | None,
                    ) -> tuple[Recording, bool, bool]:
    async with transaction(ctx.sessions) as s:
        upload = await _owned_upload(s, actor, upload_id, for_update=True)
        if upload.status == UploadStatus.COMPLETED:
            rec = await recordings_repo.get(s, upload.recording_id)
            return rec, False, False
        _require_open(upload)
        parts = await repo.parts(s, upload_id)
        missing = _contiguous(parts)
        if not parts or missing:
            raise Conflict(f"Upload {upload_id} cannot complete: parts {missing or [1]} are missing.",
                           slug="parts-missing", missing_parts=missing or [1])
        total = sum(p.size for p in parts)
        if total != upload.size_bytes:
            problem = await _record_mismatch(s, actor, upload,
                                             f"received {total} bytes, declared {upload.size_bytes}", total, None)
        else:
            problem = None
            recording_id = new_id("rec")
            key = f"recordings/{recording_id}"
            previous_assembly = upload.assembling_key
            upload.assembling_key = key
    if problem:
        raise problem
    if previous_assembly and previous_assembly != upload.assembly_key:
        # A crashed complete's half-written recording: the claim above means no live request is writing it.
        await ctx.store.discard(previous_assembly)

    versions = [p.version for p in parts]
    digest = ctx.hashes.take(upload_id, versions)
    prefix = ctx.hashes.prefix(upload_id, versions) if digest is None else None
    assembly_at_start, assembly_id_at_start = upload.assembly_key, upload.assembly_id
    try:
        built = await assembly.build(ctx, upload, parts, digest, key, prefix)
    except AssemblyRejected as e:
        if assembly_id_at_start:
            # Re-sending into the same assembly would fail the same way: start a fresh one.
            await assembly.reset_assembly(ctx, upload_id, assembly_id_at_start)
        raise _parts_changed(upload_id, str(e)) from e
    key, size, digest, method = built.key, built.size, built.digest, built.method

    if size != upload.size_bytes or digest != upload.sha256:
        if key:
            await ctx.store.discard(key)
        async with transaction(ctx.sessions) as s:
            upload = await _owned_upload(s, actor, upload_id, for_update=True)
            upload.assembling_key = None
            if built.consumed_assembly:
                # The big parts were used up finishing the assembly: the dock re-sends them.
                await repo.delete_direct_parts(s, upload_id)
                upload.assembly_key = upload.assembly_id = None
            problem = await _record_mismatch(s, actor, upload, f"stored {size} bytes with SHA-256 {digest}",
                                             size, digest)
        raise problem
    recording_id = key.rsplit("/", 1)[1]
    stored = await ctx.store.head(key)

    async with transaction(ctx.sessions) as s:
        upload = await _owned_upload(s, actor, upload_id, for_update=True)
        if upload.status == UploadStatus.COMPLETED:  # a concurrent complete won the race: keep its recording
            await ctx.store.delete([key])
            return await recordings_repo.get(s, upload.recording_id), False, False
        _require_open(upload)
        if assembly_at_start and key == assembly_at_start and upload.assembly_key != key:
            # A part re-sent meanwhile found the assembly gone and started a fresh one (and removed this).
            raise _parts_changed(upload_id, "the assembly was replaced while completing")
        existing = await recordings_repo.find_by_hash(s, upload.device_id, upload.sha256)
        if existing is not None:
            upload.status, upload.recording_id, upload.assembling_key = UploadStatus.COMPLETED, existing.id, None
            await audit.record(s, actor, "upload.duplicate", "recording", existing.id,
                               {"upload_id": upload_id, "sha256": upload.sha256})
            dup_key = key
            rec, created, duplicate = existing, False, True
        else:
            rec = await recordings.create_from_upload(s, ctx.policies, actor, upload, recording_id, key,
                                                      hash_method=method,
                                                      storage_version=stored.version if stored else None)
            upload.status, upload.recording_id, upload.assembling_key = UploadStatus.COMPLETED, rec.id, None
            dup_key, created, duplicate = None, True, False
            if then is not None:
                await then(s, rec)
        upload.updated_at = utcnow()
    if dup_key:
        await ctx.store.delete([dup_key])
        metrics.UPLOAD_DUPLICATES.inc()
    ctx.hashes.forget(upload_id)
    if upload.assembly_key and upload.assembly_key != rec.storage_key:
        await ctx.store.discard(upload.assembly_key)  # an assembly opened but not used in the end
    await purge_staging(ctx, upload_id)
    if created:
        metrics.UPLOADS_COMPLETED.inc()
        if rec.delete_after is None:  # docked into a query hold: storage protects it too
            await retention.sync_legal_holds(ctx, [rec.id])
        if ctx.jobs is not None:
            await ctx.jobs.enqueue(JobName.PROBE_RECORDING, recording_id=rec.id)
    return rec, created, duplicate


async def _record_mismatch(s, actor: Principal, upload: Upload, what: str, size: int,
                           digest: str | None) -> Invalid:
    """Record the failure (metric, audit, supervisor alert); the caller refuses: no recording, parts kept."""
    metrics.HASH_MISMATCHES.inc()
    details = {"declared_size": upload.size_bytes, "declared_sha256": upload.sha256, "stored_size": size,
               "stored_sha256": digest, "device_id": upload.device_id}
    await audit.record(s, actor, "upload.hash_mismatch", "upload", upload.id, details)
    await alerts.raise_alert(s, AlertKind.HASH_MISMATCH, "upload", upload.id,
                              f"Upload {upload.id} from {upload.device_id}: {what}; nothing was kept.", details)
    return Invalid(f"The stored bytes do not match the declared size and SHA-256: {what}. Re-send the "
                  f"parts that differ and complete again.", slug="hash-mismatch", title="Hash mismatch",
                  expected_sha256=upload.sha256, actual_sha256=digest, expected_size=upload.size_bytes,
                  actual_size=size)


async def purge_staging(ctx: Context, upload_id: str) -> None:
    failed = await ctx.store.discard(staging_prefix(upload_id))
    if failed:
        log.warning("staging_purge_incomplete", upload_id=upload_id, keys=len(failed))
        return
    async with transaction(ctx.sessions) as s:
        upload = await repo.get_upload(s, upload_id, for_update=True)
        if upload is not None and upload.status != UploadStatus.OPEN:
            upload.staging_purged = True
            await repo.delete_parts(s, upload_id)


async def abandon(s: AsyncSession, actor: Principal, upload_id: str, cutoff: datetime) -> list[str] | None:
    """Close an upload nobody has touched since *cutoff* (audited): the assembly keys left to discard, or
    None when it has moved on since it was listed."""
    upload = await repo.get_upload(s, upload_id, for_update=True)
    if upload is None or upload.status != UploadStatus.OPEN or upload.updated_at >= cutoff:
        return None
    parts = await repo.parts(s, upload_id)
    leftovers = [k for k in (upload.assembling_key, upload.assembly_key) if k]
    upload.status, upload.assembling_key, upload.updated_at = UploadStatus.ABANDONED, None, utcnow()
    await audit.record(s, actor, "upload.abandoned", "upload", upload_id,
                       {"parts": len(parts), "bytes": sum(p.size for p in parts),
                        "device_id": upload.device_id, "sha256": upload.sha256})
    return leftovers
