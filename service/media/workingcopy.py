"""Working copies: an H.264/AAC MP4 (audio only: AAC in M4A) made from a master that browsers cannot play
(AVI/MJPEG, raw .264, MPEG-TS, ASF/WMV, DAV, Matroska with odd codecs). The master is never touched: it is
what was seized and stays the exhibit (NPCC guidance: recover the native file, keep a master, work on
copies); the copy is what people watch, clip and redact."""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any

from service.media import _ffmpeg
from service.media.source import MediaSource, ffmpeg_input

# What every current browser plays in a <video>/<audio> element.
BROWSER_TYPES = frozenset({"video/mp4", "audio/mp4", "video/webm", "audio/webm", "video/ogg", "audio/ogg",
                           "audio/wav", "audio/mpeg", "audio/aac", "audio/flac"})
BROWSER_VIDEO = frozenset({"h264", "vp8", "vp9", "av1"})
BROWSER_AUDIO = frozenset({"aac", "mp3", "opus", "vorbis", "flac", "pcm_s16le", "pcm_u8", "pcm_f32le"})


def needs_working_copy(media: dict[str, Any] | None) -> bool:
    """True when a readable master is in a container or codec browsers do not play."""
    if not media or not media.get("readable"):
        return False
    if media.get("media_type") not in BROWSER_TYPES:
        return True
    video, audio = media.get("video_codec"), media.get("audio_codec")
    return (video is not None and video not in BROWSER_VIDEO) or (audio is not None and audio not in BROWSER_AUDIO)


def content_type(media: dict[str, Any] | None) -> str:
    return "video/mp4" if (media or {}).get("video_codec") else "audio/mp4"


def command(target: str, out_path: str, *, video: bool, audio: bool) -> list[str]:
    out: list[str] = []
    if video:
        # Even dimensions for yuv420p; CCTV streams with no timestamps get generated ones.
        out += ["-map", "0:v:0", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
                "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2"]
    if audio:
        out += ["-map", "0:a:0", "-c:a", "aac", "-b:a", "128k"]
    out += ["-movflags", "+faststart", "-avoid_negative_ts", "make_zero", "-f", "mp4", "file:" + out_path]
    return _ffmpeg.ffmpeg_command(["-fflags", "+genpts"], _ffmpeg.input_args(target), out)


@functools.cache
def ffmpeg_version() -> str:
    """The first line of ``ffmpeg -version``: continuity names the tool that made each copy."""
    proc = _ffmpeg.run([_ffmpeg.FFMPEG, "-version"], timeout_s=30)
    return (proc.stdout.decode("utf-8", "replace").splitlines() or ["ffmpeg (unknown version)"])[0][:200]


class WorkingCopyFailed(Exception):
    pass


def make(source: MediaSource, out_path: str | os.PathLike[str], media: dict[str, Any],
         timeout_s: float = 3600) -> str:
    """Write the working copy of *source* to *out_path*; the ffmpeg version that made it."""
    video, audio = bool(media.get("video_codec")), bool(media.get("audio_codec"))
    if not (video or audio):
        raise WorkingCopyFailed("no audio or video stream")
    with ffmpeg_input(source) as target:
        try:
            proc = _ffmpeg.run(command(target, os.fspath(out_path), video=video, audio=audio), timeout_s=timeout_s)
        except _ffmpeg.Timeout as e:
            raise WorkingCopyFailed(str(e)) from None
        if proc.returncode != 0:
            raise WorkingCopyFailed(_ffmpeg.failure(proc, target))
    return ffmpeg_version()


async def make_async(source: MediaSource, out_path: str | os.PathLike[str], media: dict[str, Any],
                     timeout_s: float = 3600) -> str:
    return await asyncio.to_thread(make, source, out_path, media, timeout_s)
