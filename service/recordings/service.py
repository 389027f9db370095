"""Recordings: created from completed uploads, searched and viewed (always audited), streamed with Range,
restricted after an incident."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from service import metrics
from service.alerts import service as alerts
from service.alerts.models import AlertKind
from service.audit import service as audit
from service.auth.roles import SUPERVISORS, Role, require
from service.auth.schemas import Principal
from service.coldtier.access import readable_copy, readable_now
from service.context import Context
from service.disclosure import repository as disclosure_repo
from service.errors import Conflict, NotFound
from service.http_range import ByteRange, parse_range
from service.ingest.models import Upload
from service.media.probe import MediaInfo, served_type
from service.paging import Page, PageParams, after_time_id, cut
from service.policies import Policies
from service.recordings import repository as repo
from service.recordings import workingcopy
from service.recordings.access import readable
from service.recordings.models import MediaStatus, Recording, RecordingStatus, Source, WorkingCopyStatus
from service.recordings.schemas import AccessOut, DoNotDiscloseMark, FlagOut, HoldRef, KeptByRef, RecordingOut
from service.retention import repository as retention_repo
from service.retention import rules
from service.retention import service as retention
from service.timeutil import iso

# Who may see footage at all (what each sees is the readable statement's business) ...
VIEWERS = (Role.OFFICER, Role.SUPERVISOR, Role.DISCLOSURE, Role.SAR_HANDLER, Role.AUDITOR, Role.ADMIN)
# ... restrict it to named people, and read whom it is restricted to.
RESTRICTERS = SUPERVISORS
ACCESS_READERS = (Role.SUPERVISOR, Role.ADMIN, Role.AUDITOR)
TimeBasis = Literal["trusted", "device", "received"]
MediaCopy = Literal["master", "working", "playable"]


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
                    media=None, media_status=MediaStatus.PENDING, status=RecordingStatus.ACTIVE,
                    retention_category=policies.retention.default_category, restricted=False,
                    source=upload.source or Source.BWV, provenance=upload.provenance)
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
                        "delete_after": rec.delete_after, "storage_key": key, "source": rec.source,
                        "provenance": rec.provenance})
    return rec


async def present(s: AsyncSession, recs: list[Recording]) -> list[RecordingOut]:
    """Recordings as the API shows them, with their active flags and holds (two queries for the lot)."""
    ids = [r.id for r in recs]
    flags: dict[str, list[FlagOut]] = {i: [] for i in ids}
    holds: dict[str, list[HoldRef]] = {i: [] for i in ids}
    for f in await retention_repo.active_flags(s, ids):
        flags[f.recording_id].append(FlagOut.of(f))
    for rid, h in await retention_repo.active_holds_for(s, ids):
        holds[rid].append(HoldRef.of(h))
    kept: dict[str, list[KeptByRef]] = {i: [] for i in ids}
    for rv in await retention_repo.reviews_of(s, ids, status="pending"):
        kept[rv.recording_id].append(KeptByRef(kind=rv.kept_kind, id=rv.kept_id, review_at=rv.review_at,
                                               retain_until=rv.retain_until, review_id=rv.id))
    return [RecordingOut.of(r, flags=flags[r.id], holds=holds[r.id], kept_by=kept[r.id]) for r in recs]


async def search(s: AsyncSession, actor: Principal, page: PageParams, *, officer_id: str | None = None,
                 device_id: str | None = None, start: datetime | None = None, end: datetime | None = None,
                 time_basis: TimeBasis = "trusted", flagged: bool | None = None,
                 status: RecordingStatus | None = None) -> Page[RecordingOut]:
    """What the actor may see of the footage matching these filters; every search is audited with what it
    returned."""
    require(actor, VIEWERS)
    rows = await repo.search(s, actor, officer_id=officer_id, device_id=device_id, start=start, end=end,
                             time_basis=time_basis, flagged=flagged, status=status, after=after_time_id(page),
                             limit=page.limit + 1)
    key = {"trusted": lambda r: r.basis_start, "device": lambda r: r.recorded_start,
           "received": lambda r: r.received_at}[time_basis]
    rows, nxt = cut(rows, page, lambda r: [iso(key(r)), r.id])
    await audit.record(s, actor, "recordings.searched", "recording", "*",
                       {"officer_id": officer_id, "device_id": device_id, "from": iso(start), "to": iso(end),
                        "time_basis": time_basis, "returned": [r.id for r in rows]})
    return Page[RecordingOut](items=await present(s, rows), next_cursor=nxt)


async def view(s: AsyncSession, actor: Principal, recording_id: str) -> RecordingOut:
    require(actor, VIEWERS)
    rec = await readable(s, actor, recording_id)
    await audit.record(s, actor, "recording.viewed", "recording", rec.id, {})
    return (await present(s, [rec]))[0]


async def access(s: AsyncSession, actor: Principal, recording_id: str) -> AccessOut:
    """Who a restricted recording is limited to, and its do-not-disclose mark (404 when the caller may
    not see the recording itself)."""
    require(actor, ACCESS_READERS)
    rec = await readable(s, actor, recording_id)
    people = await repo.access_list(s, rec.id) if rec.restricted else []
    mark = await disclosure_repo.mark(s, rec.id)
    return AccessOut(recording_id=rec.id, restricted=rec.restricted, people=people,
                     do_not_disclose=DoNotDiscloseMark(reason=mark.reason, marked_by=mark.marked_by,
                                                       marked_at=mark.marked_at) if mark else None)


@dataclass(frozen=True)
class MediaOpened:
    rec: Recording
    rng: ByteRange
    body: AsyncIterator[bytes]
    size: int
    content_type: str
    sha256: str
    filename: str
    copy: str  # "master" | "working"


async def open_media(s: AsyncSession, actor: Principal, ctx: Context, recording_id: str,
                     range_header: str | None, copy: MediaCopy = "master") -> MediaOpened:
    """The recording's bytes (or the range asked for), audited; they stream after the audit commits.
    ``copy``: the master (the default, byte-exact), its ``working`` copy (409 until made, 404 when the master
    plays as it is), or whichever is ``playable`` in a browser."""
    require(actor, VIEWERS)
    rec = await readable(s, actor, recording_id)
    working = rec.working_copy_status == WorkingCopyStatus.READY and rec.working_copy_key
    if copy == "working" and not working:
        if rec.media_status != MediaStatus.DONE or rec.working_copy_status in (WorkingCopyStatus.PENDING,
                                                                              WorkingCopyStatus.FAILED):
            state = rec.working_copy_status or "not decided until the media is probed"
            raise Conflict(f"The working copy of {rec.id} is {state}; the master is served without ?copy=.",
                           slug="working-copy-not-ready", working_copy=rec.working_copy_status)
        raise NotFound(f"Recording {rec.id} has no working copy: browsers play its master.", slug="no-working-copy")
    use_working = copy == "working" or (copy == "playable" and working)
    size = rec.working_copy_size_bytes if use_working else rec.size_bytes
    if not use_working:
        store, key = readable_copy(ctx, rec)  # 409 in-cold-storage until restored (the working copy stays hot)
    rng = parse_range(range_header, size)
    await audit.record(s, actor, "recording.media_accessed", "recording", rec.id,
                       {"range": [rng.start, rng.end - 1] if rng.partial else None,
                        "copy": "working" if use_working else "master", "user_agent": actor.user_agent})
    if use_working:
        return MediaOpened(rec, rng, ctx.store.read(rec.working_copy_key, rng.start, rng.end), size,
                           (rec.working_copy_info or {}).get("content_type") or "video/mp4", rec.working_copy_sha256,
                           f"{rec.id}-working", "working")
    return MediaOpened(rec, rng, store.read(key, rng.start, rng.end), size, served_type(rec.media),
                       rec.sha256, rec.id, "master")


def needs_probe(rec: Recording | None) -> bool:
    return rec is not None and rec.status == RecordingStatus.ACTIVE and rec.media_status != MediaStatus.DONE


async def probe_key(s: AsyncSession, recording_id: str) -> str | None:
    """Where the bytes to probe are, or None when the recording needs no probe (gone, or probed already)."""
    rec = await repo.get(s, recording_id)
    return rec.storage_key if needs_probe(rec) and readable_now(rec) and rec.storage_tier == "hot" else None


async def record_probe(s: AsyncSession, actor: Principal, recording_id: str, info: MediaInfo | None) -> str:
    """Record what the probe found (``info`` None: storage gave nothing readable). Unreadable media is kept
    and alerted. "skipped" when another probe got there first."""
    rec = await repo.get(s, recording_id, for_update=True)
    if not needs_probe(rec):
        return "skipped"
    media = info.as_dict() if info else {"readable": False}
    rec.media, rec.media_status = media, MediaStatus.DONE
    workingcopy.plan(rec, media)
    await audit.record(s, actor, "recording.probed", "recording", rec.id,
                       {**media, "error": info.error if info else "storage gave no readable source"})
    if not media["readable"]:
        metrics.MEDIA_UNREADABLE.inc()
        await alerts.raise_alert(s, AlertKind.UNREADABLE_MEDIA, "recording", rec.id,
                                 f"Recording {rec.id} from camera {rec.device_id} could not be read by "
                                 f"ffprobe; it is kept unchanged.",
                                 {"device_id": rec.device_id, "error": info.error if info else None})
    return "readable" if media["readable"] else "unreadable"


async def restrict(s: AsyncSession, actor: Principal, recording_id: str, people: list[str],
                   reason: str) -> RecordingOut:
    """After a serious incident: only the named people (and auditors) may see it from now on."""
    require(actor, RESTRICTERS)
    rec = await readable(s, actor, recording_id, for_update=True)
    await repo.set_access(s, rec.id, people)
    rec.restricted = True
    await audit.record(s, actor, "recording.restricted", "recording", rec.id, {"people": people, "reason": reason})
    return (await present(s, [rec]))[0]


async def unrestrict(s: AsyncSession, actor: Principal, recording_id: str, reason: str) -> RecordingOut:
    require(actor, RESTRICTERS)
    rec = await readable(s, actor, recording_id, for_update=True)
    if not rec.restricted:
        raise Conflict(f"Recording {rec.id} is not restricted.", slug="not-restricted")
    await repo.set_access(s, rec.id, [])
    rec.restricted = False
    await audit.record(s, actor, "recording.unrestricted", "recording", rec.id, {"reason": reason})
    return (await present(s, [rec]))[0]
