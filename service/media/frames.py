"""What redaction reads: the source's frame size, rate and audio (one ffprobe), and the ffmpeg command
that decodes a range of it to raw frames on a pipe. Shared by the scan (faces, followed boxes) and
the redaction itself, so both see the same frames with the same numbers."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from fractions import Fraction

import ffmpeg

from service.media.clip import _GLOBAL_ARGS, FFMPEG, _input_target, _seconds
from service.media.probe import (
    MAX_ERROR_CHARS,
    _first_useful_line,
    _redact,
    _refers_elsewhere,
    parse_probe,
    probe_command,
)
from service.media.source import MediaSource, ffmpeg_env, ffmpeg_input


class RedactionError(Exception):
    """ffmpeg could not make the redacted copy. The message is short and holds no URL query string."""


# ---- the source ------------------------------------------------------------------------------------

@dataclass
class _Source:
    width: int  # as decoded: ffmpeg turns rotated footage upright, so these are the displayed sides
    height: int
    fps: Fraction
    audio: bool
    duration_s: float | None
    rotation: int


def _fps(stream: dict) -> Fraction:
    for key in ("avg_frame_rate", "r_frame_rate"):
        try:
            rate = Fraction(stream.get(key) or "0")
        except (ValueError, ZeroDivisionError):
            continue
        if 1 <= rate <= 240:  # phones report 90000/1 or 0/0 for variable-rate footage
            return rate.limit_denominator(1001)
    return Fraction(25)


def _read_source(source: MediaSource, timeout_s: float) -> _Source:
    # probe() does not report the frame rate, so its command is run here and the JSON
    # read for it; parse_probe keeps the rest identical to what the recording's probe stored.
    with ffmpeg_input(source) as target:
        try:
            proc = subprocess.run(probe_command(target), capture_output=True, timeout=min(timeout_s, 120),
                                  stdin=subprocess.DEVNULL, check=False, env=ffmpeg_env())
        except subprocess.TimeoutExpired:
            raise RedactionError(f"ffprobe timed out after {min(timeout_s, 120):g} s") from None
    if proc.returncode != 0:
        detail = _first_useful_line(_redact(proc.stderr.decode("utf-8", "replace"), target))
        raise RedactionError(f"unreadable source: {detail or proc.returncode}"[:MAX_ERROR_CHARS])
    try:
        data = json.loads(proc.stdout.decode("utf-8", "replace"))
    except ValueError:
        raise RedactionError("unreadable source: ffprobe printed invalid JSON") from None
    info = parse_probe(data)
    if info.readable and (info.container or "").startswith("mov,") and _refers_elsewhere(source):
        raise RedactionError("unreadable source: a track's samples are in another file")
    video = next((s for s in data.get("streams") or [] if s.get("codec_type") == "video"
                  and not (s.get("disposition") or {}).get("attached_pic")), None)
    if not info.readable or video is None or not info.width or not info.height:
        raise RedactionError(f"unreadable source: {info.error or 'no video stream'}"[:MAX_ERROR_CHARS])
    rotation = info.rotation
    w, h = (info.height, info.width) if rotation % 180 == 90 else (info.width, info.height)
    return _Source(w, h, _fps(video), info.audio_codec is not None, info.duration_s, rotation)


# ---- commands --------------------------------------------------------------------------------------

def _decode_command(source: str, start_s: float, length_s: float, src: _Source,
                    scale: tuple[int, int] | None = None, pix_fmt: str = "yuv420p") -> list[str]:
    """Raw frames on stdout; ``scale`` and ``pix_fmt`` give a scan its smaller RGB copy of the very
    same frames (same seek, same rate), so frame i of a scan is frame i of the redaction."""
    target, in_opts = _input_target(source)
    video = ffmpeg.input(target, ss=_seconds(start_s), t=_seconds(length_s), **in_opts)["v:0"]
    if src.width % 2 or src.height % 2:  # yuv420p (and H.264 in it) needs even sides
        video = video.filter("crop", src.width - src.width % 2, src.height - src.height % 2, 0, 0)
    if scale is not None:
        video = video.filter("scale", scale[0], scale[1], flags="area")
    # A fixed output rate: frame i is at exactly i/fps, which is what box times are matched against
    # and what the encoder is told, so video and audio stay in step on variable-rate footage too.
    out = ffmpeg.output(video, "pipe:1", format="rawvideo", pix_fmt=pix_fmt, r=str(src.fps))
    args = out.compile(cmd=FFMPEG)
    return args[:1] + _GLOBAL_ARGS + args[1:]
