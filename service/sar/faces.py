"""Face tracks of a SAR item (issue 18): a job finds them, the handler sees each as a thumbnail and
ticks the requester's own, and a redaction plan's ``keep_tracks`` leaves those visible while every
other track is blurred in every frame it covers.

One scan per item; asking again starts a new run that replaces the tracks when it finishes (a plan
naming the old run's tracks is then refused as naming unknown tracks). Thumbnails are faces, so
they are served only through the API, to SAR roles, and every view is audited.

The functions take the caller's session and never commit: the request's edge, or the job's steps in
:mod:`service.sar.tasks` (claim, progress, finish or fail: each its own transaction there), own it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from fractions import Fraction
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from service.alerts.models import AlertKind
from service.audit import service as audit
from service.auth.roles import SAR_HANDLERS, SAR_READERS, require
from service.auth.schemas import Principal, system_principal
from service.coldtier.access import playable_copy, readable_now
from service.context import Context
from service.db import after_commit
from service.errors import Conflict, Invalid, NotFound
from service.ids import new_id
from service.jobrows.service import Alarm, JobRows
from service.jobs import JobName
from service.media.frames import RedactionError
from service.media.source import media_source
from service.media.tracks import Track
from service.recordings import repository as recordings_repo
from service.recordings import tasks as recordings
from service.recordings.access import readable
from service.recordings.models import MediaStatus, RecordingStatus
from service.sar import repository as repo
from service.sar.models import FaceScanStatus, SarFaceScan, SarFaceTrack, SarItem
from service.sar.service import get_item, get_sar, open_sar
from service.timeutil import utcnow

PROGRESS_EVERY_S = 1.0
# Bad media fails at once with an alert; anything else (storage, a killed ffmpeg) is retried.
FACE_SCANS = JobRows(
    SarFaceScan, FaceScanStatus, FaceScanStatus.RUNNING, job=lambda _: JobName.FIND_SAR_ITEM_FACES,
    job_args=lambda scan: {"item_id": scan.item_id, "run": scan.run},
    alarm=lambda scan, error: Alarm(AlertKind.SAR_FACES_FAILED, "sar", scan.sar_id,
                                    f"Finding faces in item {scan.item_id} of {scan.sar_id} failed: {error}"),
    permanent=(RedactionError, ValueError))


async def request(s: AsyncSession, actor: Principal, ctx: Context, sar_id: str, item_id: str) -> SarFaceScan:
    require(actor, SAR_HANDLERS)
    sar = await open_sar(s, sar_id)
    item = await get_item(s, sar, item_id, for_update=True)
    rec = await readable(s, actor, item.recording_id)
    scan = await repo.face_scan(s, item.id, for_update=True)
    if scan is not None and scan.status in (FaceScanStatus.QUEUED, FaceScanStatus.RUNNING):
        raise Conflict(f"Faces of item {item.id} are already being found ({scan.status}).",
                       slug="faces-in-progress")
    if rec.media_status != MediaStatus.PENDING and not (rec.media or {}).get("readable"):
        raise Conflict(f"Recording {rec.id} has no readable video.", slug="media-unreadable")
    now = utcnow()
    if scan is None:
        scan = SarFaceScan(item_id=item.id, sar_id=sar.id)
        s.add(scan)
    scan.run, scan.status, scan.progress, scan.attempts, scan.error = new_id("fsc"), FaceScanStatus.QUEUED, 0.0, 0, None
    scan.requested_by, scan.requested_at, scan.updated_at, scan.finished_at = actor.sub, now, now, None
    await audit.record(s, actor, "sar.faces_requested", "recording", rec.id,
                       {"sar_id": sar.id, "item_id": item.id, "run": scan.run})
    run = scan.run
    after_commit(s, lambda: ctx.jobs.enqueue(JobName.FIND_SAR_ITEM_FACES, item_id=item_id, run=run))
    return scan


async def listing(s: AsyncSession, actor: Principal, sar_id: str, item_id: str
                  ) -> tuple[SarFaceScan | None, list[SarFaceTrack]]:
    require(actor, SAR_READERS)
    item = await get_item(s, await get_sar(s, sar_id), item_id, visible_to=actor)
    scan = await repo.face_scan(s, item.id)
    if scan is None or scan.status != FaceScanStatus.READY:
        return scan, []
    return scan, await repo.face_tracks(s, item.id, scan.run)


async def thumbnail(s: AsyncSession, actor: Principal, ctx: Context, sar_id: str, item_id: str,
                    track_id: str) -> bytes:
    require(actor, SAR_READERS)
    item = await get_item(s, await get_sar(s, sar_id), item_id, visible_to=actor)
    track = await repo.face_track(s, track_id)
    scan = await repo.face_scan(s, item.id)
    if track is None or track.item_id != item.id or scan is None or track.run != scan.run \
            or track.thumbnail_key is None:
        raise NotFound(f"No face track {track_id!r} in item {item.id}.", slug="track-not-found")
    await audit.record(s, actor, "sar.face_thumbnail_viewed", "recording", item.recording_id,
                       {"sar_id": sar_id, "item_id": item.id, "track_id": track.id})
    return b"".join([chunk async for chunk in ctx.store.read(track.thumbnail_key)])


async def boxes(s: AsyncSession, actor: Principal, sar_id: str, item_id: str, track_id: str
                ) -> tuple[SarFaceTrack, SarFaceScan]:
    """A current track and its scan, for drawing where the face is over the player (the editor, the
    review page). Positions only, no picture of the face: not audited, unlike the thumbnail."""
    require(actor, SAR_READERS)
    item = await get_item(s, await get_sar(s, sar_id), item_id, visible_to=actor)
    track = await repo.face_track(s, track_id)
    scan = await repo.face_scan(s, item.id)
    if track is None or track.item_id != item.id or scan is None or track.run != scan.run \
            or scan.status != FaceScanStatus.READY:
        raise NotFound(f"No face track {track_id!r} in item {item.id}.", slug="track-not-found")
    return track, scan


async def check_keep(s: AsyncSession, item: SarItem, keep: list[str]) -> str | None:
    """The scan run whose tracks *keep* names, or a 422 naming the first track that is not one of
    this item's current tracks (another item's, an older run's, or none at all)."""
    if not keep:
        return None
    scan = await repo.face_scan(s, item.id)
    if scan is None or scan.status != FaceScanStatus.READY:
        raise Conflict(f"keep_tracks needs the faces of item {item.id} found first "
                       f"(POST …/items/{item.id}/faces; now: {scan.status if scan else 'never asked'}).",
                       slug="faces-not-ready")
    ours = {t.id for t in await repo.face_tracks(s, item.id, scan.run)}
    for track_id in keep:
        if track_id in ours:
            continue
        other = await repo.face_track(s, track_id)
        # A new scan deletes the tracks it replaces, so an old run's id reads as unknown.
        where = ("is a track of another item" if other is not None and other.item_id != item.id
                 else "is not a face track of this item's current face scan")
        raise Invalid(f"keep_tracks: {track_id!r} {where}.", slug="invalid-redaction", track_id=track_id)
    return scan.run


async def load_tracks(s: AsyncSession, item_id: str, run: str) -> tuple[list[Track], dict, dict[str, int]]:
    """The run's tracks for :func:`service.media.redact.redact`, what the log says about the scan,
    and each track id's number."""
    scan = await repo.face_scan(s, item_id)
    if scan is None or scan.run != run or scan.status != FaceScanStatus.READY:
        raise RedactionError("the face scan the plan names was replaced; ask for the redaction again")
    rows = await repo.face_tracks(s, item_id, run)
    tracks = [Track(r.number, list(r.frames), [tuple(b) for b in r.boxes], list(r.scores)) for r in rows]
    about = {"detector": scan.detector or {}, "run": run, "clip_start_s": scan.clip_start_s, "fps": scan.fps,
             "margin_frames": scan.margin_frames}
    return tracks, about, {r.id: r.number for r in rows}


# ---- the job's steps (service.sar.tasks runs each in its own transaction) ---------------------------------

class Claim(NamedTuple):
    item_id: str
    run: str
    recording_id: str
    sar_id: str
    start: float
    end: float | None


async def claim(s: AsyncSession, item_id: str, run: str) -> Claim | None:
    """The queued run, now running; None when it was replaced or is not queued."""
    if await FACE_SCANS.claim(s, item_id, run) is None:
        return None
    item = await repo.item_by_id(s, item_id)
    return Claim(item_id, run, item.recording_id, item.sar_id, item.clip_start_s or 0.0, item.clip_end_s)


async def find(ctx: Context, job: Claim, keys: list[str],
               progress: Callable[[list[float]], Awaitable[None]]) -> tuple[Any, list[SarFaceTrack]]:
    """The work between the transactions: the faces of the item's clip and its tracks' rows (not yet
    added), their thumbnails stored (their keys appended to *keys*); *progress* runs beside it."""
    item_id, run, sar_id, start, end = job.item_id, job.run, job.sar_id, job.start, job.end
    async with ctx.sessions() as s:
        rec = await recordings_repo.get(s, job.recording_id)
    if rec.status == RecordingStatus.ACTIVE and rec.media_status == MediaStatus.PENDING:
        await recordings.apply_probe(ctx, rec.id)  # asked for before the probe ran: run it now
        async with ctx.sessions() as s:
            rec = await recordings_repo.get(s, job.recording_id)
    if rec.status != RecordingStatus.ACTIVE or not (rec.media or {}).get("readable"):
        raise RedactionError(f"recording {rec.id} has no readable video")
    if not readable_now(rec):
        raise RedactionError(f"recording {rec.id} is in cold storage: restore it first "
                             f"(POST /v1/recordings/{rec.id}/restore), then try again")
    source = await media_source(*playable_copy(ctx, rec))
    if source is None:
        raise RedactionError(f"the stored file of recording {rec.id} is missing")
    latest = [0.0]
    reporter = asyncio.create_task(progress(latest))
    try:
        # OpenCV and NumPy load with the first scan, not in every API process.
        from service.media.scan import find_faces

        found = await asyncio.to_thread(find_faces, source, clip_start_s=start, clip_end_s=end,
                                        source_duration_s=(rec.media or {}).get("duration_s"),
                                        detector=ctx.settings.face_detector,
                                        progress=lambda f: latest.__setitem__(0, f))
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
    fps = float(found.fps)
    rows = []
    for t in found.tracks:
        tid = new_id("trk")
        key = f"sar/{sar_id}/{item_id}/faces/{run}/{tid}.jpg"
        if t.id in found.thumbnails:
            await ctx.store.put_bytes(key, found.thumbnails[t.id], content_type="image/jpeg")
            keys.append(key)
        first, last = max(0, t.first - found.margin_frames), min(found.frames - 1, t.last + found.margin_frames)
        rows.append(SarFaceTrack(id=tid, item_id=item_id, run=run, number=t.id,
                                 start_s=round(start + first / fps, 3), end_s=round(start + (last + 1) / fps, 3),
                                 frames=list(t.frames), boxes=[[round(v, 1) for v in b] for b in t.boxes],
                                 scores=[round(v, 3) for v in t.scores],
                                 thumbnail_key=key if key in keys else None))
    return found, rows


async def finish(s: AsyncSession, job: Claim, found: Any, rows: list[SarFaceTrack]) -> list[str] | None:
    """The run's tracks replace the item's older ones; the older thumbnails' keys, or None when a newer
    run superseded this one."""
    scan = await FACE_SCANS.finish(s, job.item_id, job.run)
    if scan is None:
        return None
    old = await repo.drop_other_face_runs(s, job.item_id, job.run)
    s.add_all(rows)
    scan.clip_start_s, scan.fps, scan.frames = job.start, str(Fraction(found.fps)), found.frames
    scan.margin_frames, scan.detector = found.margin_frames, found.detector
    await audit.record(s, system_principal("face-finder"), "sar.faces_found", "recording", job.recording_id,
                       {"sar_id": job.sar_id, "item_id": job.item_id, "run": job.run, "tracks": len(rows),
                        "detector": (found.detector or {}).get("name"),
                        "detector_version": (found.detector or {}).get("version")})
    return old
