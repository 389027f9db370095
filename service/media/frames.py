"""What redaction reads: the source's frame size, rate and audio (one ffprobe), and the ffmpeg command
that decodes a range of it to raw frames on a pipe. Shared by the scan (faces, followed boxes) and
the redaction itself, so both see the same frames with the same numbers."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from service.media._ffmpeg import MAX_ERROR_CHARS, Timeout, ffmpeg_command, input_args, options
from service.media.isobmff import refers_elsewhere
from service.media.probe import ProbeFailed, parse_probe, probe_json
from service.media.source import MediaSource


class RedactionError(Exception):
    """ffmpeg could not make the redacted copy. The message is short and holds no URL query string."""


# ---- the source ------------------------------------------------------------------------------------

@dataclass
class Source:
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


def read_source(source: MediaSource, timeout_s: float) -> Source:
    # probe() does not report the frame rate, so the JSON is read for it here; parse_probe keeps the
    # rest identical to what the recording's probe stored.
    try:
        data = probe_json(source, min(timeout_s, 120))
    except Timeout as e:
        raise RedactionError(str(e)) from None
    except ProbeFailed as e:
        raise RedactionError(f"unreadable source: {e}"[:MAX_ERROR_CHARS]) from None
    info = parse_probe(data)
    if info.readable and (info.container or "").startswith("mov,") and refers_elsewhere(source):
        raise RedactionError("unreadable source: a track's samples are in another file")
    video = next((s for s in data.get("streams") or [] if s.get("codec_type") == "video"
                  and not (s.get("disposition") or {}).get("attached_pic")), None)
    if not info.readable or video is None or not info.width or not info.height:
        raise RedactionError(f"unreadable source: {info.error or 'no video stream'}"[:MAX_ERROR_CHARS])
    rotation = info.rotation
    w, h = (info.height, info.width) if rotation % 180 == 90 else (info.width, info.height)
    return Source(w, h, _fps(video), info.audio_codec is not None, info.duration_s, rotation)


# ---- commands --------------------------------------------------------------------------------------

def decode_command(source: str, start_s: float, length_s: float, src: Source,
                   scale: tuple[int, int] | None = None, pix_fmt: str = "yuv420p") -> list[str]:
    """Raw frames on stdout; ``scale`` and ``pix_fmt`` give a scan its smaller RGB copy of the very
    same frames (same seek, same rate), so frame i of a scan is frame i of the redaction."""
    filters = []
    if src.width % 2 or src.height % 2:  # yuv420p (and H.264 in it) needs even sides
        filters.append(f"crop={src.width - src.width % 2}:{src.height - src.height % 2}:0:0")
    if scale is not None:
        filters.append(f"scale={scale[0]}:{scale[1]}:flags=area")
    if filters:
        graph = ";".join(f"[{'0:v:0' if i == 0 else f's{i - 1}'}]{f}[s{i}]" for i, f in enumerate(filters))
        mapping = ["-filter_complex", graph, "-map", f"[s{len(filters) - 1}]"]
    else:
        mapping = ["-map", "0:v:0"]
    # A fixed output rate: frame i is at exactly i/fps, which is what box times are matched against
    # and what the encoder is told, so video and audio stay in step on variable-rate footage too.
    out = options({"f": "rawvideo", "pix_fmt": pix_fmt, "r": src.fps})
    return ffmpeg_command(input_args(source, start_s=start_s, length_s=length_s), mapping, out, ["pipe:1"])
