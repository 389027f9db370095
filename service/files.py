"""Local files: private modes for everything the service keeps on disk, and working files (cut clips,
redacted copies) on their way into object storage.

Footage, bundles, keys and the database are its own user's only (API.md): 0600 files, 0700 directories,
whatever the umask. A umask can only take bits away, so creating with these modes is never wider; the
explicit chmod covers what already existed (a data directory made before, by hand or by an older version).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import zlib
from collections.abc import AsyncIterator, Callable
from typing import BinaryIO

import structlog

CHUNK = 1024 * 1024
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: str | os.PathLike[str]) -> bool:
    """Create ``path`` and any missing parents as 0700, and make ``path`` itself 0700 if it existed.

    False (and a warning) when an existing directory is not ours to chmod, e.g. a Kubernetes volume
    owned by root and shared through fsGroup: refusing to start there would help nobody."""
    path = os.path.abspath(path)
    private_makedirs(path)
    try:
        os.chmod(path, PRIVATE_DIR)
    except PermissionError:
        mode = os.stat(path).st_mode & 0o777
        structlog.get_logger(__name__).warning("directory_not_private", path=path, mode=oct(mode),
                                               why="owned by another user; files inside are still 0600")
        return False
    return True


def private_makedirs(path: str | os.PathLike[str]) -> None:
    """``os.makedirs`` whose every new directory is 0700 (``makedirs(mode=)`` sets only the last one).
    Existing directories are left as they are: a parent may be shared (``/tmp``), not ours to change."""
    path = os.path.abspath(path)
    missing: list[str] = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for d in reversed(missing):
        try:
            os.mkdir(d, PRIVATE_DIR)
        except FileExistsError:
            continue  # made concurrently (by us: same mode)
        try:
            os.chmod(d, PRIVATE_DIR)
        except FileNotFoundError:
            pass  # pruned again at once by a delete; the caller's open retries


def open_private(path: str | os.PathLike[str], *, exclusive: bool = True) -> BinaryIO:
    """Open ``path`` for writing as a new 0600 file (``exclusive``) or an existing one, never wider."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | (os.O_EXCL if exclusive else 0)
    fd = os.open(path, flags, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


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
