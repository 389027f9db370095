"""Reading one recording as a given person: 404 when they may not see it (never 403, which would
confirm it exists), 410 with the tombstone when it was deleted."""

from __future__ import annotations

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.schemas import Principal
from service.errors import Conflict, Gone, Invalid, NotFound
from service.recordings import repository as repo
from service.recordings.models import Recording, RecordingStatus
from service.timeutil import iso


def tombstone(rec: Recording) -> Gone:
    return Gone(f"Recording {rec.id} was deleted on {iso(rec.deleted_at)}: {rec.deletion_reason}.",
                slug="recording-deleted", title="Recording deleted", id=rec.id, sha256=rec.sha256,
                deleted_at=iso(rec.deleted_at), policy=rec.deletion_policy, reason=rec.deletion_reason)


async def readable(s: AsyncSession, actor: Principal, recording_id: str, *, allow_deleted: bool = False,
                   for_update: bool = False) -> Recording:
    rec = await repo.get_readable(s, actor, recording_id, for_update=for_update)
    if rec is None:
        raise NotFound(f"No recording {recording_id!r}.", slug="recording-not-found")
    if rec.status == RecordingStatus.DELETED and not allow_deleted:
        raise tombstone(rec)
    return rec


def check_clip(rec: Recording, clip_end_s: float | None) -> None:
    """A clip must end inside the recording (when its duration is known; half a second of slack for
    container rounding)."""
    duration = (rec.media or {}).get("duration_s")
    if clip_end_s is not None and duration and clip_end_s > duration + 0.5:
        raise Invalid(f"clip_end_s {clip_end_s} is past the end of the recording ({duration:.1f} s).",
                      slug="invalid-clip-range")


async def refuse_restricted(s: AsyncSession, actor: Principal, among: ColumnElement[bool], what: str) -> None:
    """Work that carries footage out (a bundle, a disclosure) is refused while some of it is restricted
    away from the person asking. Added before the restriction, it is still theirs to send, but not
    theirs to see: they are told how many and whom to ask, never which."""
    count, contact = await repo.restricted_contacts(s, actor, among)
    if count:
        raise Conflict(f"{count} recording(s) of this {what} are restricted and not opened to you; ask "
                       f"{', '.join(contact)} (the people it is opened to), or a supervisor to change the "
                       "restriction.", slug="restricted-footage", title="Restricted footage",
                       count=count, contact=contact)
