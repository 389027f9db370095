"""Trusted time (RFC 3161): a time-stamping authority countersigns the SHA-256 of what we sign.

The request and the check are made by the ``openssl ts`` command (the same tool a recipient uses to check
a ``manifest.tsr``), the request travels over HTTP (``application/timestamp-query``). The reply is kept
whole (a TimeStampResp: ``openssl ts -reply -in manifest.tsr -text`` prints it).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx


class TimeStampError(Exception):
    """The authority could not be reached, refused, or its token does not verify."""


async def _openssl(*args: str, stdin: bytes | None = None) -> bytes:
    proc = await asyncio.create_subprocess_exec("openssl", *args, stdin=asyncio.subprocess.PIPE if stdin else None,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate(stdin)
    if proc.returncode != 0:
        raise TimeStampError(f"openssl {args[0]} {args[1] if len(args) > 1 else ''} failed: "
                             f"{err.decode(errors='replace').strip()[:500]}")
    return out


@dataclass(frozen=True)
class TimeStamper:
    url: str
    timeout_s: float = 30.0

    async def stamp(self, data: bytes) -> bytes:
        """The authority's reply (DER TimeStampResp) over SHA-256(*data*), checked to be a granted token."""
        with tempfile.TemporaryDirectory(prefix="bwv-tsa-") as tmp:
            path = Path(tmp) / "data"
            path.write_bytes(data)
            query = await _openssl("ts", "-query", "-data", str(path), "-sha256", "-cert")
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                try:
                    r = await client.post(self.url, content=query,
                                          headers={"Content-Type": "application/timestamp-query"})
                except httpx.HTTPError as e:
                    raise TimeStampError(f"time-stamping authority {self.url} unreachable: {e}") from e
            if r.status_code != 200:
                raise TimeStampError(f"time-stamping authority {self.url} answered {r.status_code}")
            (Path(tmp) / "reply.tsr").write_bytes(r.content)
            text = await _openssl("ts", "-reply", "-in", str(Path(tmp) / "reply.tsr"), "-text")
            if b"Status: Granted" not in text:
                raise TimeStampError(f"time-stamping authority {self.url} did not grant a token")
            return r.content


def stamper_for(url: str | None) -> TimeStamper | None:
    return TimeStamper(url) if url else None


async def verify_token(data: bytes, reply: bytes, ca_file: str | os.PathLike[str]) -> str | None:
    """None when *reply* is a valid time-stamp of *data* by an authority under *ca_file*; else why not."""
    with tempfile.TemporaryDirectory(prefix="bwv-tsa-") as tmp:
        d, t = Path(tmp) / "data", Path(tmp) / "reply.tsr"
        d.write_bytes(data)
        t.write_bytes(reply)
        try:
            await _openssl("ts", "-verify", "-data", str(d), "-in", str(t), "-CAfile", str(ca_file))
        except TimeStampError as e:
            return str(e)
    return None


async def stamped_time(reply: bytes) -> str | None:
    """The authority's "Time stamp:" line, for people."""
    with tempfile.TemporaryDirectory(prefix="bwv-tsa-") as tmp:
        t = Path(tmp) / "reply.tsr"
        t.write_bytes(reply)
        try:
            text = (await _openssl("ts", "-reply", "-in", str(t), "-text")).decode(errors="replace")
        except TimeStampError:
            return None
    return next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Time stamp:")), None)
