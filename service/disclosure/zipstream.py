"""A ZIP written straight into object storage, member by member (stream-zip): never the whole bundle
in memory or in a temporary file. Members are opened only when the archive reaches them.

stream-zip is a synchronous generator, so it runs in a worker thread; member bytes come from async
sources (the object store) and the archive's bytes go to an async ``ObjectStore.put``. Both hand-offs
are bounded, so memory stays at a few chunks whatever the bundle's size.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from stream_zip import NO_COMPRESSION_64, ZIP_64, stream_zip

from service.storage.base import ObjectStore
from service.timeutil import utcnow

_DONE = object()


@dataclass
class Member:
    name: str
    open: Callable[[], AsyncIterator[bytes]]
    # Known size and CRC-32 let video be stored uncompressed while streaming (it does not compress);
    # without them the member is deflated (manifests, CSV).
    size: int | None = None
    crc32: int | None = None
    modified_at: datetime | None = None


class _Stopped(Exception):
    pass


async def zip_to_store(store: ObjectStore, key: str, members: list[Member]) -> tuple[int, str]:
    """Write the archive to ``key`` atomically; returns (size, sha256 of the archive)."""
    loop = asyncio.get_running_loop()
    out: asyncio.Queue = asyncio.Queue(maxsize=8)
    stop = threading.Event()

    def await_in_loop(coro):
        if stop.is_set():
            coro.close()
            raise _Stopped
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def member_chunks(m: Member) -> Iterator[bytes]:
        it = aiter(m.open())
        while True:
            chunk = await_in_loop(anext(it, _DONE))
            if chunk is _DONE:
                return
            yield chunk

    def produce() -> None:
        now = utcnow()
        try:
            files = ((m.name, m.modified_at or now, 0o644,
                      NO_COMPRESSION_64(m.size, m.crc32) if m.size is not None and m.crc32 is not None else ZIP_64,
                      member_chunks(m)) for m in members)
            # 1 MiB pieces: 64 KiB ones (the default) cost more in thread hand-offs than the zipping.
            for chunk in stream_zip(files, chunk_size=1024 * 1024):
                await_in_loop(out.put(chunk))
            await_in_loop(out.put(_DONE))
        except _Stopped:
            return
        except BaseException as e:  # handed to the consumer, which raises it
            if not stop.is_set():
                asyncio.run_coroutine_threadsafe(out.put(e), loop).result()

    producer = loop.run_in_executor(None, produce)
    sha = hashlib.sha256()

    async def archive() -> AsyncIterator[bytes]:
        while True:
            item = await out.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            sha.update(item)
            yield item

    try:
        size = await store.put(key, archive(), content_type="application/zip")
    finally:
        stop.set()
        while not out.empty():  # unblock a producer waiting on a full queue
            out.get_nowait()
        await producer
    return size, sha.hexdigest()
