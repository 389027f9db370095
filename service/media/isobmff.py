"""Just enough of ISO-BMFF (mp4/mov) box parsing for the checks that must not start ffmpeg."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from typing import BinaryIO

from service.media._ffmpeg import is_http
from service.media.source import MediaSource, StoredObject, open_binary

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


def refers_elsewhere(source: MediaSource) -> bool:
    """Whether a mov/mp4 *source* keeps a track's samples in another file (ffmpeg would leave that
    track out, or be steered to open the file)."""
    if not isinstance(source, StoredObject) and is_http(os.fspath(source)):
        return False  # a URL we were handed: ffmpeg was not allowed to follow it, nothing to read here
    try:
        with open_binary(source) as f:
            size = f.seek(0, os.SEEK_END)
            return external_reference(f, size)
    except OSError:
        return False  # ffprobe just read it; a vanished file is not a reference
