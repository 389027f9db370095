"""Assemblies on local disk: one pre-allocated file per upload, each part written at its own offset.

A dock's parts are numbered and, all but the last, ``part_size`` long, so part n lives at
``(n - 1) * part_size`` of the recording. Writing each part there as it arrives means completing an
upload copies nothing: the file is trimmed, synced once and renamed into place. That is what brings
embedded ingest near the disk's own limit (``sha256sum`` + ``cp`` + ``sync``): the bytes are written
once, hashed once (the running hash) and synced once.

Rule 4 (a failed request changes nothing) holds because a slot is written at most once: the first
write of part n claims it (an ``O_EXCL`` marker file, so the claim survives a restart), and every later
send of part n (a retry, a re-send, a concurrent duplicate) is refused here with :class:`SlotTaken` and
staged as an object of its own, exactly as before slots existed. A part whose size does not fit its slot
is staged too. Whatever a failed first write left in its slot is never used: only parts the database
recorded (by their etag) are taken at completion, and a staged replacement is copied over the slot.

Durability: parts are not synced one by one (that is what made ingest slow); the whole file is synced
before it becomes the recording. A power cut between a part's acknowledgement and completion can lose
page-cache bytes; completion then cannot use the running hash (a new process has none), re-reads the
file, finds the mismatch, and the dock re-sends (DESIGN rule 3 holds: the hash is over stored bytes).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence

from service.files import PRIVATE_FILE, open_private, private_makedirs
from service.storage.base import AssemblyPart, SlotTaken, StorageError

SLOTS = ".slots"
CLAIMS = ".claims"


def _paths(tmp_base: str) -> tuple[str, str]:
    """``tmp_base``: the target's path with the store's temp marker in front of the file name."""
    return tmp_base + SLOTS, tmp_base + CLAIMS


def assembly_id(part_size: int, size: int) -> str:
    return f"slots:{part_size}:{size}"


def _layout(assembly: str) -> tuple[int, int]:
    try:
        kind, part_size, size = assembly.split(":")
        if kind != "slots":
            raise ValueError
        return int(part_size), int(size)
    except ValueError:
        raise StorageError(f"not a local assembly id: {assembly!r}") from None


def begin(tmp_base: str, part_size: int, size: int) -> str:
    slots, claims = _paths(tmp_base)
    private_makedirs(os.path.dirname(slots))
    with contextlib.suppress(FileExistsError):
        os.mkdir(claims, 0o700)
    try:
        f = open_private(slots)
    except FileExistsError:
        return assembly_id(part_size, size)  # begun before (a retried transaction): the same file
    with f:
        try:
            os.posix_fallocate(f.fileno(), 0, size)  # the blocks are reserved now: a full disk fails here
        except OSError:
            os.ftruncate(f.fileno(), size)  # file systems without fallocate (tmpfs on old kernels, some FUSE)
    return assembly_id(part_size, size)


def _slot(assembly: str, n: int, length: int) -> int:
    part_size, size = _layout(assembly)
    offset = (n - 1) * part_size
    if n < 1 or offset + length > size or (length != part_size and offset + length != size):
        raise SlotTaken(f"part {n} of {length} bytes does not fit slot {n} ({part_size} bytes of {size})")
    return offset


def put(tmp_base: str, assembly: str, n: int, chunks: Sequence[bytes]) -> str:
    """Write part ``n`` into its slot; its etag names the slot and length. Blocking (run in a thread)."""
    length = sum(len(c) for c in chunks)
    offset = _slot(assembly, n, length)
    slots, claims = _paths(tmp_base)
    try:
        os.close(os.open(os.path.join(claims, str(n)), os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        raise SlotTaken(f"slot {n} was written before") from None
    except FileNotFoundError:
        raise StorageError("the assembly was discarded") from None
    fd = os.open(slots, os.O_WRONLY)
    try:
        views = [memoryview(c) for c in chunks if c]
        pos = offset
        while views:
            done = os.pwritev(fd, views, pos)
            pos += done
            while views and done >= len(views[0]):
                done -= len(views[0])
                views.pop(0)
            if done:
                views[0] = views[0][done:]
    finally:
        os.close(fd)
    return f"slot-{n}-{length}"


def _etag_length(part: AssemblyPart) -> int:
    try:
        kind, n, length = part.etag.split("-")
        if kind != "slot" or int(n) != part.number:
            raise ValueError
        return int(length)
    except (ValueError, AttributeError):
        raise StorageError(f"part {part.number}: {part.etag!r} is not an etag of this assembly") from None


def _copy_range(src_fd: int, src_off: int, dst_fd: int, dst_off: int, length: int) -> None:
    while length > 0:
        try:
            done = os.copy_file_range(src_fd, dst_fd, length, src_off, dst_off)
        except OSError:
            done = 0
        if done <= 0:  # no in-kernel copy here: through a buffer
            data = os.pread(src_fd, min(length, 8 << 20), src_off)
            if not data:
                raise StorageError("a part is shorter than recorded")
            done = os.pwrite(dst_fd, data, dst_off)
        src_off, dst_off, length = src_off + done, dst_off + done, length - done


def finish(tmp_base: str, assembly: str, parts: list[AssemblyPart], source_path, commit) -> int:
    """Make the object from ``parts`` in order: slot parts by etag, staged ones (``source``) copied in.
    When every part already sits where the recording needs it (the usual case) nothing is copied but
    the staged parts; otherwise the parts are copied, in order, into a fresh file. ``commit(tmp, f)``
    syncs and renames into place. Blocking."""
    part_size, _size = _layout(assembly)
    slots, claims = _paths(tmp_base)
    if not os.path.exists(slots):
        raise StorageError("the assembly was discarded")
    lengths = [_etag_length(p) if p.etag else p.source.size for p in parts]
    for p in parts:
        if p.etag and not os.path.exists(os.path.join(claims, str(p.number))):
            raise StorageError(f"slot {p.number} was never written")
    in_place, pos = True, 0
    for p, length in zip(parts, lengths, strict=True):
        in_place = in_place and pos == (p.number - 1) * part_size
        pos += length
    total = pos
    if in_place:
        f = open(slots, "r+b")  # noqa: SIM115 - closed by commit
        target_name = slots
    else:
        target_name = tmp_base + ".compact"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target_name)  # what a finish killed half-way wrote
        f = open_private(target_name)
    try:
        src_fd = os.open(slots, os.O_RDONLY)
        try:
            pos = 0
            for p, length in zip(parts, lengths, strict=True):
                if p.source is not None:
                    try:
                        with open(source_path(p.source.key), "rb") as src:
                            _copy_range(src.fileno(), 0, f.fileno(), pos, length)
                    except FileNotFoundError:
                        raise StorageError(f"staged part {p.number} is gone") from None
                elif not in_place:
                    _copy_range(src_fd, (p.number - 1) * part_size, f.fileno(), pos, length)
                pos += length
        finally:
            os.close(src_fd)
        os.ftruncate(f.fileno(), total)
    except BaseException:
        f.close()
        if not in_place:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target_name)
        raise
    commit(target_name, f)
    discard(tmp_base)
    return total


def discard(tmp_base: str) -> None:
    slots, claims = _paths(tmp_base)
    for path in (slots, tmp_base + ".compact"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    shutil.rmtree(claims, ignore_errors=True)
