"""Read what a recording is (duration, size, codecs) with ffprobe, without ever hanging or raising
on bad media.

ffmpeg-python's ``ffmpeg.probe`` builds exactly this command but waits on ffprobe forever, and a
stalled S3 connection or a pathological file must not pin a worker, so the command is run here with
``subprocess.run(timeout=...)``, which kills ffprobe when the time is up.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import subprocess
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

FFPROBE = os.environ.get("BODYCAM_FFPROBE", "ffprobe")
MAX_ERROR_CHARS = 300
# Microseconds: ffmpeg's unit for -rw_timeout. Without it a silent HTTP peer blocks a read forever.
HTTP_RW_TIMEOUT_US = 30_000_000
# Whitelisting protocols stops a crafted playlist or concat file from making ffprobe open other
# local files or URLs; httpproxy/tls/tcp are what http(s) is built from inside ffmpeg.
_HTTP_PROTOCOLS = "http,https,tls,tcp,httpproxy"
_FILE_PROTOCOLS = "file"
_PRESIGN_QUERY = re.compile(r"\?[^\s'\"]*")
# "[mov,mp4,... @ 0x55d1c0] moov atom not found": the pointer differs every run, which would make
# identical failures look different in logs and stored errors.
_CONTEXT_POINTER = re.compile(r" @ 0x[0-9a-fA-F]+\]")


@dataclass
class MediaInfo:
    readable: bool
    duration_s: float | None
    width: int | None
    height: int | None
    video_codec: str | None
    audio_codec: str | None
    error: str | None = None
    # Degrees the player turns the picture (phone-style metadata); ffmpeg decodes it upright, so a
    # quarter turn swaps the displayed width and height.
    rotation: int = 0

    def as_dict(self) -> dict[str, Any]:
        # The error stays out: it is diagnostic text for logs, not a stored property of the media.
        return {
            "readable": self.readable,
            "duration_s": self.duration_s,
            "width": self.width,
            "height": self.height,
            "video_codec": self.video_codec,
            "audio_codec": self.audio_codec,
            "rotation": self.rotation,
        }


def _unreadable(error: str) -> MediaInfo:
    return MediaInfo(False, None, None, None, None, None, error=(error or "unreadable")[:MAX_ERROR_CHARS])


def _is_http(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def _redact(text: str, source: str) -> str:
    """Presigned URLs carry credentials in the query string; ffprobe echoes the URL in its errors,
    and errors end up in logs and the database."""
    if not _is_http(source):
        return text
    parts = urlsplit(source)
    safe = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    text = text.replace(source, safe)
    return _PRESIGN_QUERY.sub("?…", text)


def _first_useful_line(stderr: str) -> str:
    for line in stderr.splitlines():
        line = line.strip()
        if line:
            return _CONTEXT_POINTER.sub("]", line)
    return ""


def probe_command(source: str) -> list[str]:
    """The ffprobe argv for *source* (a local path or an http(s) URL)."""
    args = [FFPROBE, "-v", "error", "-hide_banner"]
    if _is_http(source):
        args += ["-rw_timeout", str(HTTP_RW_TIMEOUT_US), "-protocol_whitelist", _HTTP_PROTOCOLS]
        target = source
    else:
        # "file:" keeps a path containing ':' from being read as a protocol and one starting
        # with '-' from being read as an option.
        args += ["-protocol_whitelist", _FILE_PROTOCOLS]
        target = "file:" + os.fspath(source)
    return args + ["-show_format", "-show_streams", "-of", "json", target]


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) and f >= 0 else None


def _int(value: Any) -> int | None:
    try:
        i = int(value)
    except (TypeError, ValueError):
        return None
    return i if i > 0 else None


def parse_probe(data: dict[str, Any]) -> MediaInfo:
    """Turn ffprobe's JSON (``-show_format -show_streams``) into a :class:`MediaInfo`."""
    streams = data.get("streams") or []
    fmt = data.get("format") or {}
    # Cover art in an MP4/M4A shows up as a one-frame video stream; it is not footage.
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not (s.get("disposition") or {}).get("attached_pic")), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None and audio is None:
        return _unreadable("no audio or video stream")
    duration = _float(fmt.get("duration"))
    if duration is None and video is not None:
        duration = _float(video.get("duration"))
    if duration is None and audio is not None:
        duration = _float(audio.get("duration"))
    return MediaInfo(
        readable=True,
        duration_s=duration,
        width=_int(video.get("width")) if video else None,
        height=_int(video.get("height")) if video else None,
        video_codec=video.get("codec_name") if video else None,
        audio_codec=audio.get("codec_name") if audio else None,
        rotation=_rotation(video) if video else 0,
    )


def _rotation(video: dict[str, Any]) -> int:
    rotation = 0
    for side in video.get("side_data_list") or []:
        if "rotation" in side:
            rotation = int(float(side["rotation"]))
    try:
        return int(float((video.get("tags") or {}).get("rotate", rotation))) % 360
    except ValueError:
        return rotation % 360


def probe(source: str, timeout_s: float = 120) -> MediaInfo:
    """Describe *source*. Bad, missing, truncated or unreachable media gives ``readable=False`` and
    a short ``error``; only a missing ffprobe binary raises (that is a broken install, not bad
    media, and a job should fail loudly and be retried once it is fixed)."""
    source = os.fspath(source)
    try:
        proc = subprocess.run(probe_command(source), capture_output=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        return _unreadable(f"ffprobe timed out after {timeout_s:g} s")
    stderr = _redact(proc.stderr.decode("utf-8", "replace"), source)
    if proc.returncode != 0:
        return _unreadable(_first_useful_line(stderr) or f"ffprobe exited with {proc.returncode}")
    try:
        # Tags can hold any bytes a camera wrote; they must not make a good file unreadable.
        data = json.loads(proc.stdout.decode("utf-8", "replace"))
    except ValueError:
        return _unreadable("ffprobe printed invalid JSON")
    if not isinstance(data, dict):
        return _unreadable("ffprobe printed unexpected JSON")
    return parse_probe(data)


async def probe_async(source: str, timeout_s: float = 120) -> MediaInfo:
    """:func:`probe` off the event loop (ffprobe is a blocking subprocess)."""
    return await asyncio.to_thread(probe, source, timeout_s)
