"""HTTP Range (RFC 9110 §14): one byte range parsed from a request, and the streamed answer to it. Every
download of stored bytes (recording media, bundles, shares, SAR disclosures) goes through here."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi.responses import StreamingResponse

from service.errors import RangeNotSatisfiable


@dataclass
class ByteRange:
    start: int
    end: int  # exclusive
    partial: bool


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_LONG = 19  # digits: past any object's size, so a longer number only needs to compare as larger


def _number(digits: str, size: int) -> int:
    """``int(digits)``, except that a number too long to matter is ``size + 1``: int() refuses more than 4300
    digits (a 500 for a hostile header), and any number above the size acts the same."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= _LONG else size + 1


def parse_range(header: str | None, size: int) -> ByteRange:
    """One byte range (RFC 9110 §14.1.2); anything else is served whole, as the RFC allows."""
    if not header or "," in header:
        return ByteRange(0, size, False)
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return ByteRange(0, size, False)
    if not m.group(1):  # suffix: the last N bytes
        n = _number(m.group(2), size)
        if n == 0 or size == 0:  # RFC 9110 §14.1.3: nothing to select in an empty body either
            raise RangeNotSatisfiable("A zero-length suffix range, or any suffix of an empty body, selects nothing.",
                                      headers={"Content-Range": f"bytes */{size}"})
        return ByteRange(max(0, size - n), size, True)
    start = _number(m.group(1), size)
    end = min(_number(m.group(2), size) + 1, size) if m.group(2) else size
    if start >= size or end <= start:
        raise RangeNotSatisfiable(f"Range {header} is outside the {size} bytes of this recording.",
                                  headers={"Content-Range": f"bytes */{size}"})
    return ByteRange(start, end, True)


def ranged_response(body: AsyncIterator[bytes], rng: ByteRange, size: int, media_type: str, *, etag: str,
                    filename: str) -> StreamingResponse:
    """A streamed body answering a (possibly partial) GET: 206 with Content-Range, or 200.

    Whatever the bytes are, a browser must never run them as a page of this origin (an HTML file
    docked as "video"): attachment and a sandbox CSP make a direct visit a download in an opaque
    origin, nosniff stops type guessing. A <video src> ignores all three and plays as before.
    """
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(rng.end - rng.start), "ETag": f'"{etag}"',
               "Cache-Control": "private, no-store", "Content-Disposition": f'attachment; filename="{filename}"',
               "Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}
    if rng.partial:
        headers["Content-Range"] = f"bytes {rng.start}-{rng.end - 1}/{size}"
    return StreamingResponse(body, status_code=206 if rng.partial else 200, headers=headers, media_type=media_type)
