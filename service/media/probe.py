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

from service.media.isobmff import external_reference
from service.media.source import MediaSource, StoredObject, ffmpeg_env, ffmpeg_input, open_binary

FFPROBE = os.environ.get("BODYCAM_FFPROBE", "ffprobe")
MAX_ERROR_CHARS = 300
# Microseconds: ffmpeg's unit for -rw_timeout. Without it a silent HTTP peer blocks a read forever.
HTTP_RW_TIMEOUT_US = 30_000_000
# ffmpeg reads exactly one thing: a local file, or this process's loopback URL (service.media.source).
# A protocol whitelist is inherited by everything a demuxer opens, so a playlist entry or reference
# cannot reach the network from a file, nor https/other hosts' schemes from the loopback URL.
_HTTP_PROTOCOLS = "http,tcp"
_FILE_PROTOCOLS = "file"
# The container families footage arrives in, as demuxer names, and the type each is served as.
# Anything else (hls, dash, concat, image2, tee, …: demuxers that open other files or URLs by design)
# is refused before it opens anything: ffmpeg checks the whitelist right after format detection.
_CONTAINERS = {
    "mov": "video/mp4", "matroska": "video/x-matroska", "mpegts": "video/mp2t", "avi": "video/x-msvideo",
    "asf": "video/x-ms-asf", "mpeg": "video/mpeg", "ogg": "video/ogg", "wav": "audio/wav",
    "mp3": "audio/mpeg", "flac": "audio/flac", "aac": "audio/aac",
}
FORMAT_WHITELIST = ",".join(_CONTAINERS)
SERVED_TYPES = frozenset(_CONTAINERS.values()) | {
    "video/quicktime", "video/3gpp", "video/3gpp2", "audio/mp4", "video/webm", "audio/webm",
    "audio/x-matroska", "audio/ogg", "audio/x-ms-wma"}
FALLBACK_TYPE = "application/octet-stream"
_WEBM_CODECS = {"vp8", "vp9", "av1", "opus", "vorbis"}
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
    # The demuxer ffprobe chose (its format_name) and the media type the file is served as.
    container: str | None = None
    media_type: str | None = None

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
            "container": self.container,
            "media_type": self.media_type,
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


def input_options(target: str) -> tuple[str, dict[str, object]]:
    """The input name and input options that make ffmpeg/ffprobe read *target* and nothing else."""
    opts: dict[str, object] = {"format_whitelist": FORMAT_WHITELIST}
    if _is_http(target):
        opts.update(rw_timeout=HTTP_RW_TIMEOUT_US, protocol_whitelist=_HTTP_PROTOCOLS)
        return target, opts
    # "file:" keeps a path containing ':' from being read as a protocol and one starting
    # with '-' from being read as an option.
    opts["protocol_whitelist"] = _FILE_PROTOCOLS
    return "file:" + target, opts


def probe_command(target: str) -> list[str]:
    """The ffprobe argv for *target* (a local path or an http URL)."""
    name, opts = input_options(os.fspath(target))
    # enable_drefs is the mov demuxer's own option (off by default, and ffprobe accepts it for any
    # input): said here so that no build default can make a reference inside a mov get opened.
    args = [FFPROBE, "-v", "error", "-hide_banner", "-enable_drefs", "0"]
    for key, value in opts.items():
        args += [f"-{key}", str(value)]
    return args + ["-show_format", "-show_streams", "-of", "json", name]


def media_type_for(container: str | None, streams: list[dict[str, Any]], brand: str | None) -> str | None:
    """The media type of a container ffprobe named (its format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2")."""
    family = next((c for c in (container or "").split(",") if c in _CONTAINERS), None)
    if family is None:
        return None
    video = any(s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
                for s in streams)
    codecs = {s.get("codec_name") for s in streams if s.get("codec_type") in ("video", "audio")}
    brand = (brand or "").strip().lower()
    if family == "mov":
        if brand == "qt":
            return "video/quicktime"
        if brand.startswith("3g2"):
            return "video/3gpp2"
        if brand.startswith("3gp"):
            return "video/3gpp"
        return "video/mp4" if video else "audio/mp4"
    if family == "matroska":
        kind = "video" if video else "audio"
        return f"{kind}/webm" if codecs and codecs <= _WEBM_CODECS else f"{kind}/x-matroska"
    if family == "ogg":
        return "video/ogg" if video else "audio/ogg"
    if family == "asf" and not video:
        return "audio/x-ms-wma"
    return _CONTAINERS[family]


def served_type(media: dict[str, Any] | None) -> str:
    """What a recording's bytes are served as: the probed container's type, never what the dock said."""
    media = media or {}
    kind = media.get("media_type")
    return kind if media.get("readable") and kind in SERVED_TYPES else FALLBACK_TYPE


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
    tags = fmt.get("tags") or {}
    return MediaInfo(
        readable=True,
        duration_s=duration,
        width=_int(video.get("width")) if video else None,
        height=_int(video.get("height")) if video else None,
        video_codec=video.get("codec_name") if video else None,
        audio_codec=audio.get("codec_name") if audio else None,
        rotation=_rotation(video) if video else 0,
        container=fmt.get("format_name"),
        media_type=media_type_for(fmt.get("format_name"), streams, tags.get("major_brand")),
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


def probe(source: MediaSource, timeout_s: float = 120) -> MediaInfo:
    """Describe *source*. Bad, missing, truncated or unreadable media, and media that points at other
    files or URLs, gives ``readable=False`` and a short ``error``; only a missing ffprobe binary
    raises (that is a broken install, not bad media, and a job should fail loudly and be retried
    once it is fixed)."""
    with ffmpeg_input(source) as target:
        try:
            proc = subprocess.run(probe_command(target), capture_output=True, timeout=timeout_s,
                                  stdin=subprocess.DEVNULL, check=False, env=ffmpeg_env())
        except subprocess.TimeoutExpired:
            return _unreadable(f"ffprobe timed out after {timeout_s:g} s")
        stderr = _redact(proc.stderr.decode("utf-8", "replace"), target)
    if proc.returncode != 0:
        return _unreadable(_first_useful_line(stderr) or f"ffprobe exited with {proc.returncode}")
    try:
        # Tags can hold any bytes a camera wrote; they must not make a good file unreadable.
        data = json.loads(proc.stdout.decode("utf-8", "replace"))
    except ValueError:
        return _unreadable("ffprobe printed invalid JSON")
    if not isinstance(data, dict):
        return _unreadable("ffprobe printed unexpected JSON")
    info = parse_probe(data)
    if info.readable and (info.container or "").startswith("mov,") and _refers_elsewhere(source):
        return _unreadable("a track's samples are in another file (external data reference)")
    return info


def _refers_elsewhere(source: MediaSource) -> bool:
    if not isinstance(source, StoredObject) and _is_http(os.fspath(source)):
        return False  # a URL we were handed: ffmpeg was not allowed to follow it, nothing to read here
    try:
        with open_binary(source) as f:
            size = f.seek(0, os.SEEK_END)
            return external_reference(f, size)
    except OSError:
        return False  # ffprobe just read it; a vanished file is not a reference


async def probe_async(source: MediaSource, timeout_s: float = 120) -> MediaInfo:
    """:func:`probe` off the event loop (ffprobe is a blocking subprocess)."""
    return await asyncio.to_thread(probe, source, timeout_s)
