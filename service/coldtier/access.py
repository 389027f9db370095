"""Reading footage that may be in cold storage: which copy is readable now, or a 409 that says how to get
it back. Used by media, bundles, clips and SAR work (they import this module, never the cold tier's
service, which itself uses the recordings service)."""

from __future__ import annotations

from datetime import datetime

from service.context import Context
from service.errors import Conflict
from service.recordings.models import Recording, RestoreStatus, StorageTier
from service.recordings.workingcopy import playable_key
from service.storage import ObjectStore
from service.storage.cold import RESTORED_PREFIX
from service.timeutil import iso, utcnow


class AwaitingRestore(Exception):  # noqa: N818 - a state, not a failure: the bundle waits for these
    """Work (a bundle build) needs recordings that are in cold storage and not restored yet."""

    def __init__(self, recording_ids: list[str]):
        super().__init__(f"waiting for the restore of {', '.join(recording_ids)} from cold storage")
        self.recording_ids = recording_ids


def readable_now(rec: Recording, now: datetime | None = None) -> bool:
    if rec.storage_tier != StorageTier.COLD:
        return True
    return (rec.restore_status == RestoreStatus.READY
            and (rec.restored_until is None or rec.restored_until > (now or utcnow())))


def in_cold_storage(rec: Recording) -> Conflict:
    asked = rec.restore_status == RestoreStatus.REQUESTED
    how = ("A restore was asked for at " + iso(rec.restore_requested_at) + "; it takes up to hours on archive "
           "storage, try again later." if asked else
           f"Ask for it with POST /v1/recordings/{rec.id}/restore, then try again once "
           "its storage.restore is 'ready'.")
    return Conflict(f"Recording {rec.id} is in cold storage. {how}", slug="in-cold-storage",
                    title="In cold storage", recording_id=rec.id, restore=rec.restore_status,
                    restore_url=f"/v1/recordings/{rec.id}/restore")


def readable_copy(ctx: Context, rec: Recording) -> tuple[ObjectStore, str]:
    """The store and key to read the recording's bytes from now; 409 in-cold-storage when there are none."""
    if rec.storage_tier != StorageTier.COLD:
        return ctx.store, rec.storage_key
    if not readable_now(rec):
        raise in_cold_storage(rec)
    assert ctx.cold is not None
    if ctx.cold.archive:
        return ctx.cold.store, rec.storage_key  # S3 serves the restored temporary copy under the same key
    if rec.other_key and rec.other_key.startswith(RESTORED_PREFIX):
        return ctx.store, rec.other_key
    raise in_cold_storage(rec)


def playable_copy(ctx: Context, rec: Recording) -> tuple[ObjectStore, str]:
    """What players, clips and redaction read: the working copy once made (it stays in the hot store), else
    the master where it can be read now (409 in-cold-storage until restored)."""
    key = playable_key(rec)
    if key != rec.storage_key:
        return ctx.store, key
    return readable_copy(ctx, rec)


def require_readable(ctx: Context, recs: list[Recording]) -> None:
    """Raise AwaitingRestore naming every recording of ``recs`` that is cold and not restored."""
    cold = sorted({r.id for r in recs if not readable_now(r)})
    if cold:
        raise AwaitingRestore(cold)
