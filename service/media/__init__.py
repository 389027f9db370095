"""The only place in the product that runs ffmpeg/ffprobe."""

from service.media.clip import ClipError, ClipResult, cut, cut_async, cut_command, mp4_duration
from service.media.probe import MediaInfo, parse_probe, probe, probe_async, probe_command
from service.media.redact import (
    Box,
    MuteRange,
    RedactionError,
    RedactionResult,
    check_plan,
    redact,
    redact_async,
)

__all__ = [
    "Box", "ClipError", "ClipResult", "MediaInfo", "MuteRange", "RedactionError", "RedactionResult",
    "check_plan", "cut", "cut_async", "cut_command", "mp4_duration", "parse_probe", "probe", "probe_async",
    "probe_command", "redact", "redact_async",
]
