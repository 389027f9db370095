"""Redacted copies for subject access: a job re-encodes an item through :mod:`service.media.redact`
(automatic face blurring, the handler's boxes, muted audio), stores the copy beside, never over, the
original, and keeps a redaction log (who asked, when, what, how, with which detector).

Progress is written to the item while the job runs. A newer request for the same item supersedes an
older run: the older run's result is discarded, so what is disclosed is always what was last asked for.

The functions take the caller's session and never commit: the request's edge, or the job's steps in
:mod:`service.sar.tasks` (claim, progress, finish or fail: each its own transaction there), own it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from service.alerts.models import AlertKind
from service.audit import service as audit
from service.auth.roles import SAR_HANDLERS, require
from service.auth.schemas import Principal, system_principal
from service.coldtier.access import playable_copy, readable_now
from service.context import Context
from service.db import after_commit
from service.errors import Conflict, Invalid
from service.files import file_digest, file_reader
from service.ids import new_id
from service.jobrows.service import Alarm, JobRows
from service.jobs import JobName
from service.media import audio
from service.media.redact import Box, MuteRange, RedactionError, check_plan, redact_async
from service.media.source import media_source
from service.recordings import repository as recordings_repo
from service.recordings import tasks as recordings
from service.recordings.access import readable
from service.recordings.models import MediaStatus, Recording, RecordingStatus
from service.sar import faces
from service.sar.models import RedactionStatus, SarItem
from service.sar.schemas import RedactionIn
from service.sar.service import get_item, open_sar
from service.signing.content_credentials import load_credentials
from service.timeutil import iso, utcnow

log = structlog.get_logger(__name__)
PROGRESS_EVERY_S = 1.0
# Bad media fails at once with an alert; anything else (storage, a killed ffmpeg) is retried.
REDACTIONS = JobRows(
    SarItem, RedactionStatus, RedactionStatus.RUNNING, job=lambda _: JobName.REDACT_SAR_ITEM,
    job_args=lambda item: {"item_id": item.id, "run": item.redaction_run},
    alarm=lambda item, error: Alarm(AlertKind.SAR_REDACTION_FAILED, "sar", item.sar_id,
                                    f"Redaction of item {item.id} of {item.sar_id} failed: {error}"),
    permanent=(RedactionError, ValueError), prefix="redaction_", progress="redaction_progress",
    run="redaction_run")
MAX_ATTEMPTS = REDACTIONS.max_attempts


def _span(item: SarItem, rec: Recording) -> tuple[float, float | None]:
    return item.clip_start_s or 0.0, item.clip_end_s or (rec.media or {}).get("duration_s")


async def request(s: AsyncSession, actor: Principal, ctx: Context, sar_id: str, item_id: str,
                  body: RedactionIn) -> SarItem:
    require(actor, SAR_HANDLERS)
    sar = await open_sar(s, sar_id)
    item = await get_item(s, sar, item_id, for_update=True)
    rec = await readable(s, actor, item.recording_id, for_update=True)  # deleted: 410 with the tombstone
    if item.redaction_status in (RedactionStatus.QUEUED, RedactionStatus.RUNNING):
        raise Conflict(f"Item {item.id} is already being redacted ({item.redaction_status}).",
                       slug="redaction-in-progress")
    media = rec.media or {}
    start, end = _span(item, rec)
    probing = rec.media_status == MediaStatus.PENDING
    if probing:
        # Not probed yet: the job waits for the probe (runs it) and checks the frame and the
        # duration then; only what needs neither is checked now.
        frame, end = (1 << 30, 1 << 30), end if end is not None else 1e9
    elif media.get("readable") and not media.get("video_codec") and media.get("audio_codec") and end is not None:
        # Audio only (a 999 call): a mute is the redaction; a box has no picture to sit on.
        if body.boxes or body.auto_faces:
            raise Invalid(f"Recording {rec.id} is audio only: mute ranges are its redaction, not boxes or faces.",
                          slug="invalid-redaction")
        frame = (1, 1)
    elif not media.get("readable") or not media.get("width") or not media.get("height") or end is None:
        raise Conflict(f"Recording {rec.id} has no readable video to redact.", slug="media-unreadable")
    else:
        # Boxes are drawn on the picture as it is shown: a quarter-turned recording is decoded upright.
        frame = (media["width"], media["height"])
        if (media.get("rotation") or 0) % 180 == 90:
            frame = frame[::-1]
    try:
        check_plan(width=frame[0], height=frame[1], clip_start_s=start, clip_end_s=end,
                   boxes=[Box(**b.model_dump()) for b in body.boxes],
                   mute=[MuteRange(**m.model_dump()) for m in body.mute])
    except ValueError as e:
        raise Invalid(str(e), slug="invalid-redaction", frame=None if probing else list(frame),
                      clip=[start, None if probing and item.clip_end_s is None else end]) from e
    if body.keep_tracks and not body.auto_faces:
        raise Invalid("keep_tracks leaves faces visible among those blurred: it needs auto_faces.",
                      slug="invalid-redaction")
    faces_run = await faces.check_keep(s, item, body.keep_tracks)
    now = utcnow()
    item.redaction_run, item.redaction_status = new_id("rdr"), RedactionStatus.QUEUED
    item.redaction_params = body.model_dump(mode="json")
    if faces_run is not None:
        item.redaction_params["faces_run"] = faces_run  # the scan whose tracks were ticked
    item.redaction_progress, item.redaction_attempts, item.redaction_error = 0.0, 0, None
    item.redaction_requested_by, item.redaction_requested_at = actor.sub, now
    item.redaction_updated_at, item.redaction_finished_at = now, None
    await audit.record(s, actor, "sar.redaction_requested", "recording", rec.id,
                       {"sar_id": sar.id, "item_id": item.id, "run": item.redaction_run,
                        "params": item.redaction_params})
    run = item.redaction_run
    after_commit(s, lambda: ctx.jobs.enqueue(JobName.REDACT_SAR_ITEM, item_id=item.id, run=run))
    return item


# ---- the job's steps (service.sar.tasks runs each in its own transaction) ---------------------------------

async def claim(s: AsyncSession, item_id: str, run: str) -> tuple[SarItem, Recording] | None:
    item = await REDACTIONS.claim(s, item_id, run)
    if item is None:
        return None
    return item, await recordings_repo.get(s, item.recording_id)


class Redacted(NamedTuple):
    rec: Recording
    key: str
    params: dict
    clip: tuple[float, float | None]
    sha: str
    crc: int
    size: int
    result: Any


async def produce(ctx: Context, item: SarItem, rec: Recording, run: str,
                  progress: Callable[[list[float]], Awaitable[None]]) -> Redacted:
    """The work between the transactions: the redacted copy, stored beside the original; *progress*
    runs beside it."""
    key = f"sar/{item.sar_id}/{item.id}/{run}.mp4"
    if rec.status == RecordingStatus.ACTIVE and rec.media_status == MediaStatus.PENDING:
        # Asked for before the probe finished: probe now (a no-op if the probe job wins the race).
        await recordings.apply_probe(ctx, rec.id)
        async with ctx.sessions() as s:
            rec = await recordings_repo.get(s, rec.id)
    if rec.status != RecordingStatus.ACTIVE:
        raise RedactionError(f"recording {rec.id} was deleted")
    if not (rec.media or {}).get("readable"):
        raise RedactionError(f"recording {rec.id} has no readable video to redact")
    params = item.redaction_params or {}
    audio_only = not (rec.media or {}).get("video_codec")
    if audio_only and params.get("boxes"):
        raise RedactionError(f"recording {rec.id} is audio only: there is nothing to blur, only to mute")
    start, end = _span(item, rec)
    if not readable_now(rec):
        raise RedactionError(f"recording {rec.id} is in cold storage: restore it first "
                             f"(POST /v1/recordings/{rec.id}/restore), then try again")
    source = await media_source(*playable_copy(ctx, rec))
    if source is None:
        raise RedactionError(f"the stored file of recording {rec.id} is missing")
    stored: dict = {}
    if params.get("keep_tracks"):
        async with ctx.sessions() as s:
            tracks, about, numbers = await faces.load_tracks(s, item.id, params["faces_run"])
        stored = {"tracks": tracks, "keep_tracks": [numbers[t] for t in params["keep_tracks"]],
                  "margin_frames": about["margin_frames"], "tracks_from": about}
        ids = {n: t for t, n in numbers.items()}
    latest = [0.0]
    reporter = asyncio.create_task(progress(latest))
    try:
        with tempfile.TemporaryDirectory(prefix="bwv-redact-") as tmp:
            out = os.path.join(tmp, "redacted.mp4")
            if audio_only:  # a 999 call or an interview: muted, nothing to see
                result = await audio.mute_async(source, out, clip_start_s=start, clip_end_s=item.clip_end_s,
                                                mute=[MuteRange(**m) for m in params.get("mute", [])],
                                                source_duration_s=(rec.media or {}).get("duration_s"))
            else:
                result = await redact_async(
                    source, out, clip_start_s=start, clip_end_s=item.clip_end_s,
                    auto_faces=bool(params.get("auto_faces")),
                    boxes=[Box(**b) for b in params.get("boxes", [])],
                    mute=[MuteRange(**m) for m in params.get("mute", [])],
                    progress=lambda f: latest.__setitem__(0, f), detector=ctx.settings.face_detector,
                    source_duration_s=(rec.media or {}).get("duration_s"), **stored)
            if stored and not audio_only:
                for t in result.log["tracks"]:
                    t["track_id"] = ids.get(t["id"])
            credentials = load_credentials(ctx.settings.c2pa_cert, ctx.settings.c2pa_key)
            if credentials is not None:  # what the requester receives says who made it, from what, how
                done = ", ".join(p for p in (
                    "faces blurred" if params.get("auto_faces") or stored else "",
                    f"{len(params.get('boxes', []))} areas blurred" if params.get("boxes") else "",
                    f"{len(params.get('mute', []))} ranges muted" if params.get("mute") else "") if p)
                await asyncio.to_thread(credentials.sign_clip, out, title=f"{item.id}-redacted.mp4", source_id=rec.id,
                                        source_sha256=rec.sha256, actions=[{
                                            "action": "c2pa.edited",
                                            "description": f"redacted ({done or 'no redaction asked'}), re-encoded: "
                                                           f"{start:g} s to {f'{end:g} s' if end else 'the end'} of the "
                                                           "source"}])
            sha, crc, size = await asyncio.to_thread(file_digest, out)
            await ctx.store.put(key, file_reader(out)(), content_type="audio/mp4" if audio_only else "video/mp4")
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
    return Redacted(rec, key, params, (start, end), sha, crc, size, result)


def log_entry(item: SarItem, run: str, done: Redacted) -> dict:
    """The redaction log: who asked, when, what, how, with which detector."""
    rec, result, params = done.rec, done.result, done.params
    return {"sar_id": item.sar_id, "item_id": item.id, "run": run, "recording_id": rec.id,
            "source_sha256": rec.sha256, "clip": list(done.clip), "requested_by": item.redaction_requested_by,
            "requested_at": iso(item.redaction_requested_at), "performed_by": system_principal("redactor").sub,
            "finished_at": iso(utcnow()),
            "params": params, "output": {"sha256": done.sha, "size_bytes": done.size, "duration_s": result.duration_s,
                                         "width": result.width, "height": result.height, "frames": result.frames},
            "faces": {"frames_with_faces": result.frames_with_faces, "boxes_blurred": result.face_boxes},
            **result.log}


async def finish(s: AsyncSession, item: SarItem, run: str, done: Redacted, entry: dict) -> bool:
    """The copy becomes the item's; False when a newer run superseded this one."""
    current = await REDACTIONS.finish(s, item.id, run)
    if current is None:
        return False
    sha, result = done.sha, done.result
    current.redacted_key, current.redacted_sha256, current.redacted_size, current.redacted_crc32 = \
        done.key, sha, done.size, done.crc
    current.redaction_log = entry
    await audit.record(s, system_principal("redactor"), "sar.redacted", "recording", done.rec.id,
                       {"sar_id": item.sar_id, "item_id": item.id, "run": run, "sha256": sha,
                        "requested_by": item.redaction_requested_by,
                        "frames_with_faces": result.frames_with_faces,
                        "detector": result.log.get("detector", {}).get("name"),
                        "detector_version": result.log.get("detector", {}).get("version"),
                        "tracks_blurred": sum(t["action"] == "blurred" for t in result.log["tracks"]),
                        "tracks_kept": [t.get("track_id") or t["id"] for t in result.log["tracks"]
                                        if t["action"] == "kept"]})
    return True
