"""Local working files (cut clips, redacted copies) on their way into object storage."""

from __future__ import annotations

import asyncio
import hashlib
import zlib
from collections.abc import AsyncIterator, Callable

CHUNK = 1024 * 1024


def file_reader(path: str) -> Callable[[], AsyncIterator[bytes]]:
    """Opens *path* each time it is called and yields it in 1 MiB pieces, reading off the event loop."""
    def open_() -> AsyncIterator[bytes]:
        async def gen():
            f = await asyncio.to_thread(open, path, "rb")
            try:
                while chunk := await asyncio.to_thread(f.read, CHUNK):
                    yield chunk
            finally:
                f.close()
        return gen()
    return open_


def file_digest(path: str) -> tuple[str, int, int]:
    """(SHA-256, CRC-32, size): the hash for manifests and logs, the CRC so the file can be stored
    uncompressed in a ZIP that is being streamed."""
    sha, crc, size = hashlib.sha256(), 0, 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
    return sha.hexdigest(), crc, size
