"""Just enough of ISO-BMFF (mp4/mov) box parsing for the checks that must not start ffmpeg."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

# Where a track names the files its samples live in: moov/trak/mdia/minf/dinf/dref.
_DREF_PATH = (b"trak", b"mdia", b"minf", b"dinf", b"dref")
_MAX_DREF_ENTRIES = 64


def boxes(f: BinaryIO, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Yield (type, payload offset, payload size) for the boxes from f's position to end."""
    pos = f.tell()
    while pos + 8 <= end:
        f.seek(pos)
        head = f.read(8)
        if len(head) < 8:
            return
        size, kind = struct.unpack(">I4s", head)
        header = 8
        if size == 1:
            big = f.read(8)
            if len(big) < 8:
                return
            size, header = struct.unpack(">Q", big)[0], 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind, pos + header, size - header
        pos += size


def _children(f: BinaryIO, off: int, length: int, kind: bytes) -> list[tuple[int, int]]:
    f.seek(off)
    return [(o, n) for k, o, n in boxes(f, off + length) if k == kind]


def external_reference(f: BinaryIO, size: int) -> bool:
    """True when a track's data reference is not "self-contained": its samples live in another file
    or URL. ffmpeg is never allowed to open those, so such a file is not footage on its own."""
    f.seek(0)
    for moov_off, moov_len in [(o, n) for k, o, n in boxes(f, size) if k == b"moov"]:
        level = [(moov_off, moov_len)]
        for kind in _DREF_PATH:
            level = [child for off, length in level for child in _children(f, off, length, kind)]
        for off, length in level:
            f.seek(off + 4)  # version and flags of the dref box itself
            count = int.from_bytes(f.read(4) or b"\0", "big")
            f.seek(off + 8)
            for n, (_, entry_off, _) in enumerate(boxes(f, off + length)):
                if n >= min(count, _MAX_DREF_ENTRIES):
                    break
                f.seek(entry_off)
                flags = f.read(4)
                if len(flags) < 4 or not flags[3] & 1:
                    return True
    return False
