"""ObjectStore on a local directory (embedded mode).

Every write lands in a temp file next to its target and is renamed into place after fsync, so a
crash leaves either the old object, the new one, or a stray temp file, never a torn object. File
I/O runs in worker threads; ``on_chunk`` callbacks are called from those threads too (hashlib
releases the GIL, so hashing overlaps the event loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import stat
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import BinaryIO

from service.files import PRIVATE_DIR, open_private, private_makedirs
from service.storage import local_slots
from service.storage.base import CHUNK, AssemblyPart, ObjectInfo, ObjectNotFound, StorageError

# Temp files share the target's directory (rename must not cross file systems); the marker keeps
# them out of list() and no key segment may start with it.
TMP_MARK = ".bwvtmp-"
_COPY_FALLBACK_ERRNOS = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM}


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_fd(src: BinaryIO, dst: BinaryIO) -> None:
    """Kernel-side copy where the file system allows it (reflink or in-kernel, no user-space buffer)."""
    if hasattr(os, "copy_file_range"):
        try:
            while os.copy_file_range(src.fileno(), dst.fileno(), 1 << 30):
                pass
            return
        except OSError as exc:
            if exc.errno not in _COPY_FALLBACK_ERRNOS:
                raise
            # copy_file_range advanced both offsets for what it did copy, so the fallback resumes.
    shutil.copyfileobj(src, dst, CHUNK)


class LocalStore:
    """Objects are files 0600 in directories 0700 (footage is its own user's only, whatever the umask)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        with contextlib.suppress(OSError):  # not there yet, or not ours: ping() and writes say so
            os.chmod(self.root, PRIVATE_DIR)  # a root made before modes were set (or by hand)

    # ---- keys and atomic files -------------------------------------------------------------

    def _path(self, key: str) -> str:
        if not key or "\x00" in key or "\\" in key or key.startswith("/") or os.path.isabs(key):
            raise StorageError(f"invalid object key {key!r}")
        parts = key.split("/")
        if any(p in ("", ".", "..") or p.startswith(TMP_MARK) for p in parts):
            raise StorageError(f"invalid object key {key!r}")
        return os.path.join(self.root, *parts)

    def _open_tmp(self, path: str) -> tuple[str, BinaryIO]:
        directory, name = os.path.split(path)
        tmp = os.path.join(directory, f"{TMP_MARK}{name}.{uuid.uuid4().hex}")
        # delete() prunes empty directories; if it removes ours between makedirs and open, retry.
        for _ in range(5):
            private_makedirs(directory)
            try:
                return tmp, open_private(tmp)  # closed by _commit/_discard
            except FileNotFoundError:
                continue
        raise StorageError(f"cannot create a file in {directory}")

    @staticmethod
    def _commit(tmp: str, f: BinaryIO, path: str) -> None:
        f.flush()
        os.fsync(f.fileno())
        f.close()
        os.replace(tmp, path)
        _fsync_dir(os.path.dirname(path))

    @staticmethod
    def _discard(tmp: str, f: BinaryIO) -> None:
        f.close()
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass

    # ---- writes ----------------------------------------------------------------------------

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str | None = None) -> int:
        path = self._path(key)
        try:
            tmp, f = await asyncio.to_thread(self._open_tmp, path)
        except OSError as exc:
            raise StorageError(f"cannot write {key!r}: {exc}") from exc
        written = 0
        try:
            async for chunk in chunks:
                if chunk:
                    await asyncio.to_thread(f.write, chunk)
                    written += len(chunk)
            await asyncio.to_thread(self._commit, tmp, f, path)
        except BaseException as exc:
            await asyncio.shield(asyncio.to_thread(self._discard, tmp, f))
            if isinstance(exc, OSError):
                raise StorageError(f"cannot write {key!r}: {exc}") from exc
            raise
        return written

    async def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        path = self._path(key)

        def write() -> None:
            tmp, f = self._open_tmp(path)
            try:
                f.write(data)
                self._commit(tmp, f, path)
            except BaseException:
                self._discard(tmp, f)
                raise

        try:
            await asyncio.to_thread(write)
        except OSError as exc:
            raise StorageError(f"cannot write {key!r}: {exc}") from exc

    async def compose(self, key: str, sources: list[ObjectInfo], *, content_type: str | None = None,
                      on_chunk: Callable[[bytes], None] | None = None) -> int:
        path = self._path(key)
        src_paths = [(s.key, self._path(s.key)) for s in sources]

        def run() -> int:
            tmp, f = self._open_tmp(path)
            try:
                for src_key, src_path in src_paths:
                    try:
                        src = open(src_path, "rb")  # noqa: SIM115
                    except FileNotFoundError:
                        raise ObjectNotFound(f"compose source {src_key!r} does not exist") from None
                    with src:
                        if on_chunk is None:
                            _copy_fd(src, f)
                        else:
                            while chunk := src.read(CHUNK):
                                on_chunk(chunk)
                                f.write(chunk)
                size = f.tell()
                self._commit(tmp, f, path)
                return size
            except BaseException:
                self._discard(tmp, f)
                raise

        try:
            return await asyncio.to_thread(run)
        except StorageError:
            raise
        except OSError as exc:
            raise StorageError(f"cannot compose {key!r}: {exc}") from exc

    # ---- reads -----------------------------------------------------------------------------

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        path = self._path(key)
        if start < 0 or (end is not None and end < 0):
            raise StorageError(f"invalid range [{start}, {end}) for {key!r}")

        def open_at() -> tuple[BinaryIO, int]:
            f = open(path, "rb")  # noqa: SIM115 - closed in the generator's finally
            f.seek(start)
            return f, os.fstat(f.fileno()).st_size

        try:
            f, size = await asyncio.to_thread(open_at)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(f"object {key!r} does not exist") from None
        except OSError as exc:
            raise StorageError(f"cannot read {key!r}: {exc}") from exc
        try:
            remaining = max(0, min(size if end is None else end, size) - start)
            while remaining > 0:
                chunk = await asyncio.to_thread(f.read, min(CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk
        finally:
            f.close()

    async def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            st = await asyncio.to_thread(os.stat, path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StorageError(f"cannot stat {key!r}: {exc}") from exc
        if not stat.S_ISREG(st.st_mode):
            return None
        return ObjectInfo(key=key, size=st.st_size)

    async def list(self, prefix: str) -> list[ObjectInfo]:
        # Walk only the deepest directory the prefix names, not the whole tree.
        head, _, _ = prefix.rpartition("/")
        base = os.path.join(self.root, *head.split("/")) if head else self.root

        def walk() -> list[ObjectInfo]:
            found: list[ObjectInfo] = []
            for dirpath, dirnames, filenames in os.walk(base):
                rel_dir = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
                rel_dir = "" if rel_dir == "." else rel_dir + "/"
                # A directory can hold matches only if it and the prefix agree on their common length.
                dirnames[:] = [d for d in dirnames if not d.startswith(TMP_MARK)  # an assembly's slot claims
                               and (rel_dir + d + "/").startswith(prefix[:len(rel_dir) + len(d) + 1])]
                for name in filenames:
                    rel = rel_dir + name
                    if name.startswith(TMP_MARK) or not rel.startswith(prefix):
                        continue
                    try:
                        found.append(ObjectInfo(key=rel, size=os.stat(os.path.join(dirpath, name)).st_size))
                    except FileNotFoundError:
                        continue  # deleted while we walked
            found.sort(key=lambda o: o.key)
            return found

        if head and any(p in ("", ".", "..") for p in head.split("/")):
            return []
        try:
            return await asyncio.to_thread(walk)
        except OSError as exc:
            raise StorageError(f"cannot list {prefix!r}: {exc}") from exc

    # ---- deletes and the rest --------------------------------------------------------------

    async def delete(self, keys: list[str], versions: dict[str, str] | None = None) -> list[str]:
        paths = [(k, self._path(k)) for k in keys]

        def run() -> list[str]:
            failed: list[str] = []
            dirs: set[str] = set()
            for key, path in paths:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                except OSError:
                    failed.append(key)
                    continue
                dirs.add(os.path.dirname(path))
            for d in sorted(dirs, key=len, reverse=True):
                # Prune empty directories up to (not including) root; a non-empty one stops the climb.
                while d != self.root and d.startswith(self.root + os.sep):
                    try:
                        os.rmdir(d)
                    except OSError:
                        break
                    d = os.path.dirname(d)
            return failed

        return await asyncio.to_thread(run)

    # Assemblies: one pre-allocated file per upload, parts written at their offsets (local_slots.py).

    def _tmp_base(self, key: str) -> str:
        directory, name = os.path.split(self._path(key))
        return os.path.join(directory, TMP_MARK + name)

    async def begin_assembly(self, key: str, *, content_type: str | None = None, size: int | None = None,
                             part_size: int | None = None) -> str | None:
        if not size or not part_size:
            return None  # no layout to place parts by: ingest stages them and composes
        try:
            return await asyncio.to_thread(local_slots.begin, self._tmp_base(key), part_size, size)
        except OSError as exc:
            raise StorageError(f"cannot reserve {size} bytes for {key!r}: {exc}") from exc

    async def put_assembly_part(self, key: str, assembly_id: str, number: int,
                                data: bytes | Sequence[bytes]) -> str:
        chunks = [data] if isinstance(data, bytes | bytearray | memoryview) else list(data)
        try:
            return await asyncio.to_thread(local_slots.put, self._tmp_base(key), assembly_id, number, chunks)
        except OSError as exc:
            raise StorageError(f"cannot write part {number} of {key!r}: {exc}") from exc

    async def finish_assembly(self, key: str, assembly_id: str, parts: list[AssemblyPart]) -> int:
        path = self._path(key)

        def commit(tmp: str, f: BinaryIO) -> None:
            self._commit(tmp, f, path)

        try:
            return await asyncio.to_thread(local_slots.finish, self._tmp_base(key), assembly_id, parts, self._path,
                                           commit)
        except StorageError:
            raise
        except OSError as exc:
            raise StorageError(f"cannot finish {key!r}: {exc}") from exc

    async def discard(self, prefix: str) -> list[str]:
        # Temp files are named TMP_MARK + final name and live beside it: match both spellings.
        head, _, base = prefix.rpartition("/")
        directory = self._path(head) if head else self.root

        def run() -> list[str]:
            failed: list[str] = []
            try:
                names = os.listdir(directory)
            except FileNotFoundError:
                return failed
            for name in names:
                if not (name.startswith(base) or name.startswith(TMP_MARK + base)):
                    continue
                path = os.path.join(directory, name)
                try:
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path)
                    else:
                        os.unlink(path)
                except FileNotFoundError:
                    pass
                except OSError:
                    failed.append(f"{head}/{name}" if head else name)
            if not base and head:
                with contextlib.suppress(OSError):
                    os.rmdir(directory)  # the emptied folder of a prefix like "uploads/up_x/"
            return failed

        return await asyncio.to_thread(run)

    async def local_path(self, key: str) -> str | None:
        path = self._path(key)
        return path if await asyncio.to_thread(os.path.isfile, path) else None

    async def set_legal_hold(self, key: str, on: bool) -> bool:
        return False

    async def extend_retention(self, key: str, until: datetime) -> bool:
        # A local disk has no Object Lock: its owner can delete anything, so there is nothing to set and
        # the database rule alone protects (README says so).
        return False

    async def ping(self) -> None:
        def probe() -> None:
            private_makedirs(self.root)
            tmp = os.path.join(self.root, f"{TMP_MARK}ping.{uuid.uuid4().hex}")
            with open_private(tmp) as f:
                f.write(b"ok")
            os.unlink(tmp)

        try:
            await asyncio.to_thread(probe)
        except OSError as exc:
            raise StorageError(f"local storage root {self.root} is not writable: {exc}") from exc

    async def close(self) -> None:
        return None
