"""Read what a recording is (duration, size, codecs) with ffprobe, without ever hanging or raising
on bad media. The command and its safety flags come from :mod:`service.media._ffmpeg`."""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass
from typing import Any

from service.media._ffmpeg import (
    CONTAINERS,
    MAX_ERROR_CHARS,
    Timeout,
    failure,
    ffprobe_command,
    run,
)
from service.media.isobmff import refers_elsewhere
from service.media.source import MediaSource, ffmpeg_input

SERVED_TYPES = frozenset(CONTAINERS.values()) | {
    "video/quicktime", "video/3gpp", "video/3gpp2", "audio/mp4", "video/webm", "audio/webm",
    "audio/x-matroska", "audio/ogg", "audio/x-ms-wma"}
FALLBACK_TYPE = "application/octet-stream"
_WEBM_CODECS = {"vp8", "vp9", "av1", "opus", "vorbis"}


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


def probe_command(target: str) -> list[str]:
    """The ffprobe argv for *target* (a local path or an http URL)."""
    return ffprobe_command(target)


def media_type_for(container: str | None, streams: list[dict[str, Any]], brand: str | None) -> str | None:
    """The media type of a container ffprobe named (its format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2")."""
    family = next((c for c in (container or "").split(",") if c in CONTAINERS), None)
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
    return CONTAINERS[family]


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
    try:
        data = probe_json(source, timeout_s)
    except (ProbeFailed, Timeout) as e:
        return _unreadable(str(e))
    info = parse_probe(data)
    if info.readable and (info.container or "").startswith("mov,") and refers_elsewhere(source):
        return _unreadable("a track's samples are in another file (external data reference)")
    return info


class ProbeFailed(Exception):
    """ffprobe could not describe the source; the message is short and holds no URL query string."""


def probe_json(source: MediaSource, timeout_s: float = 120) -> dict[str, Any]:
    """ffprobe's JSON (``-show_format -show_streams``) for *source*, for callers that need more than
    :class:`MediaInfo` (the frame rate); raises :class:`ProbeFailed`, or ``_ffmpeg.Timeout``."""
    with ffmpeg_input(source) as target:
        proc = run(probe_command(target), timeout_s=timeout_s)
        if proc.returncode != 0:
            raise ProbeFailed(failure(proc, target))
    try:
        # Tags can hold any bytes a camera wrote; they must not make a good file unreadable.
        data = json.loads(proc.stdout.decode("utf-8", "replace"))
    except ValueError:
        raise ProbeFailed("ffprobe printed invalid JSON") from None
    if not isinstance(data, dict):
        raise ProbeFailed("ffprobe printed unexpected JSON")
    return data


async def probe_async(source: MediaSource, timeout_s: float = 120) -> MediaInfo:
    """:func:`probe` off the event loop (ffprobe is a blocking subprocess)."""
    return await asyncio.to_thread(probe, source, timeout_s)
