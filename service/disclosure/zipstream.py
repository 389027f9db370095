"""A ZIP written straight into object storage, member by member (stream-zip): never the whole bundle
in memory or in a temporary file. Members are opened only when the archive reaches them.

``async_stream_zip`` takes async member sources (the object store) and yields the archive's bytes to
an async ``ObjectStore.put``, one chunk at a time on demand, so memory stays at a few chunks whatever
the bundle's size. (It runs the zipping in a worker thread itself.)
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

from stream_zip import NO_COMPRESSION_64, ZIP_64, async_stream_zip

from service.storage.base import ObjectStore
from service.timeutil import utcnow

# 1 MiB pieces: 64 KiB ones (the default) cost more in thread hand-offs than the zipping.
CHUNK_BYTES = 1024 * 1024


@dataclass
class Member:
    name: str
    open: Callable[[], AsyncIterator[bytes]]
    # Known size and CRC-32 let video be stored uncompressed while streaming (it does not compress);
    # without them the member is deflated (manifests, CSV).
    size: int | None = None
    crc32: int | None = None
    modified_at: datetime | None = None


async def _member_files(members: list[Member]):
    now = utcnow()
    for m in members:
        method = NO_COMPRESSION_64(m.size, m.crc32) if m.size is not None and m.crc32 is not None else ZIP_64
        # Opened here, when the archive asks for this member, not when the list was made.
        yield m.name, m.modified_at or now, 0o644, method, m.open()


async def zip_to_store(store: ObjectStore, key: str, members: list[Member]) -> tuple[int, str]:
    """Write the archive to ``key`` atomically; returns (size, sha256 of the archive)."""
    sha = hashlib.sha256()

    async def archive() -> AsyncIterator[bytes]:
        async with contextlib.aclosing(async_stream_zip(_member_files(members), chunk_size=CHUNK_BYTES)) as chunks:
            async for chunk in chunks:
                sha.update(chunk)
                yield chunk

    async with contextlib.aclosing(archive()) as body:
        size = await store.put(key, body, content_type="application/zip")
    return size, sha.hexdigest()
