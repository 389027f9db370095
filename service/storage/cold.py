"""The cold tier's storage side (issue 17): copy a recording to cold storage and prove what arrived, ask for
and follow restores, find any copy again after a crash.

Two shapes, one interface:

- **S3**: the cold copy stays in the same bucket under ``cold/`` with an archive storage class
  (``BWV_S3_COLD_STORAGE_CLASS``: GLACIER or DEEP_ARCHIVE). The copy is server-side (CopyObject) with
  ``ChecksumAlgorithm=SHA256``: S3 hashes the object it stored and the copy is accepted only when that
  equals the recording's SHA-256. The source's Object Lock (legal hold, COMPLIANCE retention) is put on
  the copy in the same call. An archived object cannot be read (GetObject answers InvalidObjectState)
  until RestoreObject has made a temporary copy, which on AWS takes minutes (Expedited) to 48 hours
  (DEEP_ARCHIVE Bulk): it is asked for and then polled with HeadObject's ``Restore`` header.
- **Local disk**: a second store (``BWV_COLD_STORAGE_URL``, e.g. a cheaper, slower volume). The copy is
  streamed, then read back and hashed. A "restore" copies it back into the hot store (the restored copy).

Single-request copies cover objects up to 5 GiB (CopyObject's limit); a larger object is refused with a
clear error and stays hot (a multipart copy's checksum is a checksum of part checksums, which cannot be
compared with the recording's SHA-256 without reading it all).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from service.storage.base import ObjectInfo, ObjectStore, StorageError

COLD_PREFIX = "cold/"
RESTORED_PREFIX = "restored/"
MAX_SINGLE_COPY = 5 * 1024 ** 3


class ColdCopyMismatch(StorageError):
    """What arrived in cold storage is not the recording's bytes (the copy is removed, the original kept)."""


@dataclass(frozen=True)
class RestoreState:
    """S3's word on a restore: in progress, or readable until ``until``; ``requested`` False when none was asked."""

    requested: bool
    ready: bool
    until: datetime | None = None


_EXPIRY = re.compile(r'expiry-date="([^"]+)"')


def parse_restore_header(value: str | None) -> RestoreState:
    """HeadObject's ``Restore``: ``ongoing-request="true"`` or ``ongoing-request="false", expiry-date="…"``."""
    if not value:
        return RestoreState(requested=False, ready=False)
    if 'ongoing-request="true"' in value:
        return RestoreState(requested=True, ready=False)
    m = _EXPIRY.search(value)
    return RestoreState(requested=True, ready=True, until=parsedate_to_datetime(m.group(1)) if m else None)


def cold_key(key: str) -> str:
    return f"{COLD_PREFIX}{key}"


def restored_key(key: str) -> str:
    return f"{RESTORED_PREFIX}{key}"


async def _sha256_of(store: ObjectStore, key: str) -> tuple[str, int]:
    h, n = hashlib.sha256(), 0
    async for chunk in store.read(key):
        await asyncio.to_thread(h.update, chunk)
        n += len(chunk)
    return h.hexdigest(), n


class ColdStorage:
    """Where cold copies live. ``archive`` (S3): reads need a restore by S3; otherwise (local) a restore is
    a copy back into the hot store that the poll job makes."""

    def __init__(self, hot: ObjectStore, cold: ObjectStore | None, storage_class: str) -> None:
        self.hot = hot
        self.archive = cold is None
        self.store = hot if cold is None else cold
        self.storage_class = storage_class if self.archive else "local-cold"

    def store_of(self, tier: str) -> ObjectStore:
        """The store holding a recording's ``storage_key``."""
        return self.store if tier == "cold" else self.hot

    def other_store(self, tier: str) -> ObjectStore:
        """The store holding its ``other_key``: the cold target while hot, a hot copy while cold."""
        return self.hot if tier == "cold" else self.store

    # ---- moving in ---------------------------------------------------------------------------

    async def copy_in(self, src: str, dst: str, sha256: str, size: int) -> ObjectInfo:
        """Copy hot ``src`` to cold ``dst`` and prove the stored bytes hash to ``sha256``; on a mismatch
        the copy is deleted and ColdCopyMismatch raised."""
        if self.archive:
            return await self._s3_copy(src, dst, sha256, size)
        written = await self.store.put(dst, self.hot.read(src))
        got, n = await _sha256_of(self.store, dst)  # read back what the cold store holds
        if got != sha256 or n != size or written != size:
            await self.store.delete([dst])
            raise ColdCopyMismatch(f"cold copy {dst} hashes to {got} ({n} bytes), not {sha256} ({size} bytes)")
        info = await self.store.head(dst)
        return info or ObjectInfo(dst, n)

    async def verified(self, dst: str, sha256: str) -> ObjectInfo | None:
        """A cold copy a crashed move left behind, if it is there and proven to hold these bytes."""
        if self.archive:
            s3 = self.hot
            try:
                head = await s3._call("head_object", dst, Key=s3._full(dst), ChecksumMode="ENABLED")
            except StorageError:
                return None
            got = head.get("ChecksumSHA256")
            if got is None or base64.b64decode(got).hex() != sha256:
                return None
            return ObjectInfo(dst, int(head["ContentLength"]), version=head.get("VersionId"))
        info = await self.store.head(dst)
        if info is None:
            return None
        got, _ = await _sha256_of(self.store, dst)
        return info if got == sha256 else None

    async def _s3_copy(self, src: str, dst: str, sha256: str, size: int) -> ObjectInfo:
        s3 = self.hot
        if size > MAX_SINGLE_COPY:
            raise StorageError(f"{src} is {size} bytes; cold copies are single CopyObject calls (at most 5 GiB)")
        head = await s3._call("head_object", src, Key=s3._full(src))
        resp = await s3._call("copy_object", dst, Key=s3._full(dst), StorageClass=self.storage_class,
                              CopySource={"Bucket": s3.bucket, "Key": s3._full(src),
                                          **({"VersionId": head["VersionId"]} if head.get("VersionId") else {})},
                              ChecksumAlgorithm="SHA256", MetadataDirective="COPY", **s3._sse)
        got = (resp.get("CopyObjectResult") or {}).get("ChecksumSHA256")
        version = resp.get("VersionId")
        if got is None or base64.b64decode(got).hex() != sha256:
            await s3.delete([dst], {dst: version} if version else None)
            raise ColdCopyMismatch(f"S3 hashed the cold copy {dst} as {got!r}, not the recording's {sha256}")
        return ObjectInfo(dst, size, version=version)

    async def carry_lock(self, src: str, dst: str) -> bool:
        """Put the original's Object Lock (legal hold, COMPLIANCE retention) on the cold copy, before anything
        lets go of the original. Idempotent (a crashed move's adopted copy gets it too); a no-op on local disk.
        Separate calls, not CopyObject's lock headers: those need a Content-MD5 that a copy cannot send.
        True when the original has a legal hold (the caller lifts it before deleting the original)."""
        if not self.archive:
            return False
        s3 = self.hot
        head = await s3._call("head_object", src, Key=s3._full(src))
        if head.get("ObjectLockMode") == "COMPLIANCE" and head.get("ObjectLockRetainUntilDate"):
            await s3.extend_retention(dst, head["ObjectLockRetainUntilDate"])
        held = head.get("ObjectLockLegalHoldStatus") == "ON"
        if held:
            await s3.set_legal_hold(dst, True)
        return held

    # ---- restores ----------------------------------------------------------------------------

    async def request_restore(self, key: str, days: int, tier: str) -> None:
        """Ask S3 for a temporary readable copy of an archived object for ``days``. Asking again while one
        is in progress is fine (S3 answers RestoreAlreadyInProgress, taken as yes)."""
        s3 = self.hot
        try:
            await s3._call("restore_object", key, Key=s3._full(key),
                           RestoreRequest={"Days": days, "GlacierJobParameters": {"Tier": tier}})
        except StorageError as exc:
            if "RestoreAlreadyInProgress" not in str(exc):
                raise

    async def restore_state(self, key: str) -> RestoreState:
        s3 = self.hot
        head = await s3._call("head_object", key, Key=s3._full(key))
        return parse_restore_header(head.get("Restore"))

    async def copy_back(self, key: str, sha256: str) -> ObjectInfo:
        """Local disk's restore: the cold copy back into the hot store as ``restored/<key>``, verified."""
        dst = restored_key(key)
        await self.hot.put(dst, self.store.read(key))
        got, n = await _sha256_of(self.hot, dst)
        if got != sha256:
            await self.hot.delete([dst])
            raise ColdCopyMismatch(f"restored copy {dst} hashes to {got}, not {sha256}")
        return (await self.hot.head(dst)) or ObjectInfo(dst, n)

    async def storage_class_of(self, key: str) -> str | None:
        """What S3 says the object's class is (STANDARD when it says nothing); None on local disk."""
        if not self.archive:
            return None
        s3 = self.hot
        head = await s3._call("head_object", key, Key=s3._full(key))
        return head.get("StorageClass") or "STANDARD"


def open_cold(hot: ObjectStore, cold_url: str | None, storage_class: str) -> ColdStorage:
    from service.storage.base import open_store

    return ColdStorage(hot, open_store(cold_url) if cold_url else None, storage_class)
