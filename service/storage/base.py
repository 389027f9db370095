"""The ObjectStore protocol every backend implements.

Keys are relative paths like ``uploads/up_x/3.v1`` or ``recordings/rec_x``. Every method is async;
backends that wrap blocking libraries (boto3, file I/O) run them in worker threads so the event
loop never blocks. No method ever holds a whole object in memory: data moves in chunks.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable
from urllib.parse import urlparse

CHUNK = 1024 * 1024
ASSEMBLY_MIN_PART = 5 * 1024 * 1024  # S3's floor for every part of a multipart upload but the last


class StorageError(Exception):
    """The backend failed (network, permissions, full disk)."""


class ObjectNotFound(StorageError):
    pass


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    version: str | None = None  # the S3 VersionId on a versioned bucket


@dataclass(frozen=True)
class AssemblyPart:
    """One part of an assembly: uploaded into it (``etag``) or copied from a staged object (``source``)."""

    number: int
    etag: str | None = None
    source: ObjectInfo | None = None


class SlotTaken(StorageError):
    """This part cannot go into the assembly (on disk: its slot was written before, or it does not fit
    the slot's size): the caller stages it as an object of its own."""


class AssemblyRejected(StorageError):
    """The backend refused to finish an assembly (e.g. a part changed since it was recorded)."""


@runtime_checkable
class ObjectStore(Protocol):
    async def put(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str | None = None) -> int:
        """Store the chunks as ``key`` atomically (readers never see a partial object); returns bytes written."""

    async def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        """Store a small object (at most a part's size) in one call."""

    async def compose(self, key: str, sources: list[ObjectInfo], *, content_type: str | None = None,
                      on_chunk: Callable[[bytes], None] | None = None) -> int:
        """Create ``key`` as the concatenation of ``sources`` in order; returns its size.

        When ``on_chunk`` is given every byte of the result is passed to it in order (so the caller can
        hash what was stored); otherwise a backend may copy server-side without reading the data.
        """

    async def begin_assembly(self, key: str, *, content_type: str | None = None, size: int | None = None,
                             part_size: int | None = None) -> str | None:
        """Start building ``key`` (``size`` bytes in parts of ``part_size``, the last shorter) from parts
        sent straight to storage: an S3 multipart upload, or on disk one pre-allocated file whose parts
        are written at their offsets. Returns an id, or None when the backend cannot (ingest then
        stages parts and composes them)."""

    async def put_assembly_part(self, key: str, assembly_id: str, number: int,
                                data: bytes | Sequence[bytes]) -> str:
        """Store part ``number`` (at least ASSEMBLY_MIN_PART bytes unless last), given whole or as the
        chunks it arrived in (no joined copy). On S3 re-sending replaces it; on disk a part's slot is
        written once, and :class:`SlotTaken` says to stage this one instead."""

    async def finish_assembly(self, key: str, assembly_id: str, parts: list[AssemblyPart]) -> int:
        """Make ``key`` from exactly these parts in order; returns its size."""

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Yield the bytes ``[start, end)`` (``end`` None = to the end) in chunks of at most CHUNK."""

    async def head(self, key: str) -> ObjectInfo | None:
        """Size of the object, or None when it does not exist."""

    async def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object whose key starts with ``prefix``."""

    async def delete(self, keys: list[str], versions: dict[str, str] | None = None) -> list[str]:
        """Delete every stored copy (all versions) of each key; missing keys are fine.

        ``versions`` names the only version a key has (we never overwrite a key), so a versioned S3
        bucket need not be listed to find it. Returns the keys that could NOT be deleted (e.g. refused
        by an Object Lock legal hold). S3 sends DeleteObjects in batches of 1,000 keys.
        """

    async def discard(self, prefix: str) -> list[str]:
        """Remove everything under ``prefix`` including unfinished writes a crash left behind
        (temp files on disk, open multipart uploads on S3). Returns keys that could not be deleted."""

    async def local_path(self, key: str) -> str | None:
        """The object's path when it is a local file, else None (an S3 object has none: ffmpeg reads it
        through :func:`service.media.source.media_source`, never through a presigned URL on its argv)."""

    async def set_legal_hold(self, key: str, on: bool) -> bool:
        """Set or clear an Object Lock legal hold; returns False when the backend has no Object Lock."""

    async def extend_retention(self, key: str, until: datetime) -> bool:
        """Keep ``key`` under COMPLIANCE Object Lock retention until at least ``until``: extends a shorter
        one, never shortens a longer one. False when the backend has no Object Lock (nothing was set)."""

    async def ping(self) -> None:
        """Raise StorageError when the store is not usable (readiness check)."""

    async def close(self) -> None: ...


def open_store(url: str, *, endpoint_url: str | None = None, region: str = "us-east-1", sse: str | None = None,
               sse_kms_key_id: str | None = None) -> ObjectStore:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        from service.storage.local import LocalStore

        return LocalStore(parsed.path)
    if parsed.scheme == "s3":
        from service.storage.s3 import S3Store

        return S3Store(bucket=parsed.netloc, prefix=parsed.path.lstrip("/"), endpoint_url=endpoint_url,
                       region=region, sse=sse, sse_kms_key_id=sse_kms_key_id)
    raise StorageError(f"unsupported storage URL {url!r}")
