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


def parse_range(header: str | None, size: int) -> ByteRange:
    """One byte range (RFC 9110 §14.1.2); anything else is served whole, as the RFC allows."""
    if not header or "," in header:
        return ByteRange(0, size, False)
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return ByteRange(0, size, False)
    if not m.group(1):  # suffix: the last N bytes
        n = int(m.group(2))
        if n == 0:
            raise RangeNotSatisfiable("A zero-length suffix range selects nothing.",
                                      headers={"Content-Range": f"bytes */{size}"})
        return ByteRange(max(0, size - n), size, True)
    start = int(m.group(1))
    end = min(int(m.group(2)) + 1, size) if m.group(2) else size
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
