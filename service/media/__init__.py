"""The only place in the product that runs ffmpeg/ffprobe."""

from service.media.probe import MediaInfo, parse_probe, probe, probe_async, probe_command

__all__ = ["MediaInfo", "parse_probe", "probe", "probe_async", "probe_command"]
