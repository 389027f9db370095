"""The only place in the product that runs ffmpeg/ffprobe."""

from service.media.clip import ClipError, ClipResult, cut, cut_async, cut_command, mp4_duration
from service.media.probe import MediaInfo, parse_probe, probe, probe_async, probe_command

__all__ = [
    "ClipError", "ClipResult", "MediaInfo", "cut", "cut_async", "cut_command", "mp4_duration",
    "parse_probe", "probe", "probe_async", "probe_command",
]
