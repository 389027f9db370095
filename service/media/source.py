"""What ffmpeg and ffprobe are pointed at: a local file, or a loopback URL that one invocation knows.

Every local user can read every process's command line (``ps``), so a presigned S3 URL handed to
ffmpeg gave them an hour of the store's credentials, and an S3-mode ffmpeg that can speak HTTP to
the store can be steered (a playlist, a relative reference) to whatever the store's host serves.
Remote objects are therefore served by this process on 127.0.0.1, under a random token that exists
only while the one ffmpeg invocation that was given it runs: afterwards the URL answers 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

import structlog

if TYPE_CHECKING:
    from service.storage.base import ObjectStore

log = structlog.get_logger(__name__)

_MAX_HEAD = 16 * 1024
_HEAD_TIMEOUT_S = 30
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
LOOPBACK_PATH = "/media"
_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


@dataclass(frozen=True)
class StoredObject:
    """An object in a store that has no local file (S3): ffmpeg reads it through the loopback server."""

    store: ObjectStore
    key: str
    size: int


MediaSource = str | os.PathLike[str] | StoredObject


async def media_source(store: ObjectStore, key: str) -> MediaSource | None:
    """What to hand the media functions for ``key``: its local path, a :class:`StoredObject`, or None
    when the object does not exist."""
    path = await store.local_path(key)
    if path is not None:
        return path
    info = await store.head(key)
    return StoredObject(store, key, info.size) if info is not None else None


@contextlib.contextmanager
def ffmpeg_input(source: MediaSource) -> Iterator[str]:
    """The string one ffmpeg/ffprobe invocation reads *source* from, valid until the block ends."""
    if isinstance(source, StoredObject):
        with _server().lend(source) as url:
            yield url
    else:
        yield os.fspath(source)


def is_loopback_url(target: str) -> bool:
    return target.startswith("http://127.0.0.1:") and f"{LOOPBACK_PATH}?t=" in target


class _LoopbackServer:
    """One per process: an asyncio server on its own thread and loop, so a busy application loop (or
    its thread pool full of waiting ffmpeg jobs) can never starve the reads ffmpeg is waiting on."""

    def __init__(self) -> None:
        self._lent: dict[str, StoredObject] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._port = 0
        self._error: BaseException | None = None
        threading.Thread(target=self._run, name="media-loopback", daemon=True).start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        self.loop = loop = asyncio.new_event_loop()
        try:
            server = loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
            self._port = server.sockets[0].getsockname()[1]
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that asked for the server
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()

    @contextlib.contextmanager
    def lend(self, obj: StoredObject) -> Iterator[str]:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._lent[token] = obj
        try:
            yield f"http://127.0.0.1:{self._port}{LOOPBACK_PATH}?t={token}"
        finally:
            with self._lock:
                self._lent.pop(token, None)

    def _lookup(self, target: str) -> StoredObject | None:
        path, _, query = target.partition("?")
        if path != LOOPBACK_PATH or not query.startswith("t="):
            return None
        with self._lock:
            return self._lent.get(query[2:])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_TIMEOUT_S)
            await self._answer(head, writer)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError, OSError):
            pass  # ffmpeg drops a connection whenever it seeks; nothing to report
        except Exception as exc:  # noqa: BLE001 - a failed store read: ffmpeg sees a short body and says so
            log.warning("media loopback read failed", error=str(exc)[:300])
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, head: bytes, writer: asyncio.StreamWriter) -> None:
        if len(head) > _MAX_HEAD:
            return
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        obj = self._lookup(parts[1]) if len(parts) == 3 else None
        if obj is None or parts[0] not in ("GET", "HEAD"):
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            return
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        start, end, status = 0, obj.size, "200 OK"
        m = _RANGE.match(headers.get("range", ""))
        if m:
            start = int(m.group(1))
            end = min(obj.size, int(m.group(2)) + 1) if m.group(2) else obj.size
            if start >= obj.size or end <= start:
                writer.write(f"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{obj.size}\r\n"
                             f"Content-Length: 0\r\nConnection: close\r\n\r\n".encode())
                await writer.drain()
                return
            status = "206 Partial Content"
        out = [f"HTTP/1.1 {status}", "Accept-Ranges: bytes", f"Content-Length: {end - start}",
               "Content-Type: application/octet-stream", "Connection: close"]
        if m:
            out.append(f"Content-Range: bytes {start}-{end - 1}/{obj.size}")
        writer.write(("\r\n".join(out) + "\r\n\r\n").encode())
        if parts[0] == "HEAD":
            await writer.drain()
            return
        body = obj.store.read(obj.key, start, end)
        try:
            async for chunk in body:
                writer.write(chunk)
                await writer.drain()
        finally:
            await body.aclose()


_lock = threading.Lock()
_instance: tuple[int, _LoopbackServer] | None = None


def _server() -> _LoopbackServer:
    global _instance
    with _lock:
        # A forked worker inherits the variable but not the thread that served it.
        if _instance is None or _instance[0] != os.getpid():
            _instance = (os.getpid(), _LoopbackServer())
        return _instance[1]


class _StoredRaw(io.RawIOBase):
    """A seekable read-only file over a :class:`StoredObject`, for Python code (the container checks)
    running in a worker thread; the reads run on the loopback server's loop."""

    def __init__(self, obj: StoredObject) -> None:
        self.obj, self.pos = obj, 0
        self.loop = _server().loop

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.pos, os.SEEK_END: self.obj.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        end = min(self.obj.size, self.pos + len(b))
        if end <= self.pos:
            return 0

        async def fetch() -> bytes:
            return b"".join([c async for c in self.obj.store.read(self.obj.key, self.pos, end)])

        data = asyncio.run_coroutine_threadsafe(fetch(), self.loop).result(_HEAD_TIMEOUT_S * 4)
        b[:len(data)] = data
        self.pos += len(data)
        return len(data)


def open_binary(source: MediaSource) -> BinaryIO:
    """*source* as a seekable binary file (read-ahead buffered for a stored object)."""
    if isinstance(source, StoredObject):
        return io.BufferedReader(_StoredRaw(source), buffer_size=256 * 1024)
    return open(source, "rb")  # noqa: SIM115 - the caller closes it


def ffmpeg_env() -> dict[str, str]:
    """The environment for ffmpeg: without proxy settings, which would send the loopback URL (and its
    token) to a proxy instead of to this process."""
    return {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}
