"""Bundles are ZIPs streamed into storage: they open with Python's zipfile, every member is intact,
stored video is not recompressed, and a failing member leaves no object behind. Both stacks."""

from __future__ import annotations

import io
import os
import zipfile
import zlib

import pytest

from service.disclosure.zipstream import Member, zip_to_store
from service.storage.base import StorageError


def _bytes(data: bytes, step: int = 100_000):
    async def gen():
        for i in range(0, len(data), step):
            yield data[i:i + step]
    return gen


async def _read(store, key: str) -> bytes:
    return b"".join([c async for c in store.read(key)])


async def test_zip_streams_members_from_storage(stack):
    store = stack.ctx.store
    video = os.urandom(3 * 1024 * 1024 + 17)
    await store.put_bytes("recordings/zip-src", video)
    members = [
        Member("JS-1.mp4", lambda: store.read("recordings/zip-src"), size=len(video), crc32=zlib.crc32(video)),
        Member("manifest.json", _bytes(b'{"exhibits": 1}\n')),
        Member("continuity.csv", _bytes(b"seq,at,actor\n" * 5000)),
    ]
    size, sha = await zip_to_store(store, "bundles/b1.zip", members)
    raw = await _read(store, "bundles/b1.zip")
    assert len(raw) == size
    import hashlib

    assert hashlib.sha256(raw).hexdigest() == sha
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        assert z.testzip() is None
        assert z.namelist() == ["JS-1.mp4", "manifest.json", "continuity.csv"]
        assert z.read("JS-1.mp4") == video
        assert z.getinfo("JS-1.mp4").compress_type == zipfile.ZIP_STORED
        assert z.getinfo("continuity.csv").compress_type == zipfile.ZIP_DEFLATED
        assert z.read("manifest.json") == b'{"exhibits": 1}\n'


async def test_a_failing_member_leaves_no_bundle(stack):
    def broken():
        async def gen():
            yield b"x" * 70_000
            raise OSError("source vanished half-way")
        return gen()

    # The store may wrap the source's error in its own; either way the cause is named.
    with pytest.raises((OSError, StorageError), match="vanished"):
        await zip_to_store(stack.ctx.store, "bundles/broken.zip", [Member("a.bin", _bytes(b"ok")), Member("b.bin", broken)])
    assert await stack.ctx.store.head("bundles/broken.zip") is None


class _WatchingStore:
    """Only what zip_to_store calls, recording how far the archive had got whenever a source was read."""

    def __init__(self) -> None:
        self.sent = 0
        self.lag: list[int] = []  # source bytes read minus archive bytes sent, at each read
        self.read = 0
        self.opened_at: dict[str, int] = {}

    async def put(self, key, chunks, content_type=None) -> int:
        async for chunk in chunks:
            self.sent += len(chunk)
        return self.sent

    def source(self, name: str, data: bytes):
        def open_():
            self.opened_at[name] = self.sent

            async def gen():
                for i in range(0, len(data), 256 * 1024):
                    self.read += len(data[i:i + 256 * 1024])
                    self.lag.append(self.read - self.sent)
                    yield data[i:i + 256 * 1024]
            return gen()
        return open_


async def test_the_archive_is_streamed_not_built_in_memory():
    """12 MiB of members go through holding a few 1 MiB chunks: each member is opened only once the
    archive has sent the one before it, and at no read is more than ~3 chunks held back."""
    store = _WatchingStore()
    data = [os.urandom(4 * 1024 * 1024) for _ in range(3)]
    members = [Member(f"m{i}.bin", store.source(f"m{i}", d), size=len(d), crc32=zlib.crc32(d))
               for i, d in enumerate(data)]
    size, _ = await zip_to_store(store, "bundles/watch.zip", members)  # type: ignore[arg-type]
    assert size > sum(map(len, data))
    assert store.opened_at["m0"] == 0
    assert store.opened_at["m1"] >= len(data[0]) - 1024 * 1024
    assert store.opened_at["m2"] >= len(data[0]) + len(data[1]) - 1024 * 1024
    assert max(store.lag) < 3 * 1024 * 1024
