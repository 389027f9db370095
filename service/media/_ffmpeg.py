"""How this package runs ffmpeg and ffprobe: argument lists built here (no ffmpeg-python, unmaintained
since 2019), the flags that make them read exactly one thing, and a run that cannot hang.

Every input gets ``-format_whitelist`` (the container families footage arrives in: hls, dash, concat,
image2, tee … open other files or URLs by design and are refused before they open anything) and
``-protocol_whitelist``, which everything a demuxer opens inherits: a local path is read as ``file:``
only, an http URL (this process's loopback URL, :mod:`service.media.source`) over http/tcp only, with
a read timeout. A stalled read or a pathological file must not pin a worker, so :func:`run` kills the
process when its time is up.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from service.media.source import ffmpeg_env

# Looked up when a command is built, so a test can point them at a wrapper.
FFMPEG = os.environ.get("BODYCAM_FFMPEG", "ffmpeg")
FFPROBE = os.environ.get("BODYCAM_FFPROBE", "ffprobe")
GLOBAL_ARGS = ["-nostdin", "-hide_banner", "-v", "error", "-y"]
MAX_ERROR_CHARS = 300
# Microseconds: ffmpeg's unit for -rw_timeout. Without it a silent HTTP peer blocks a read forever.
HTTP_RW_TIMEOUT_US = 30_000_000
_HTTP_PROTOCOLS = "http,tcp"
_FILE_PROTOCOLS = "file"
# The container families footage arrives in, as demuxer names, and the type each is served as.
CONTAINERS = {
    "mov": "video/mp4", "matroska": "video/x-matroska", "mpegts": "video/mp2t", "avi": "video/x-msvideo",
    "asf": "video/x-ms-asf", "mpeg": "video/mpeg", "ogg": "video/ogg", "wav": "audio/wav",
    "mp3": "audio/mpeg", "flac": "audio/flac", "aac": "audio/aac",
    # What CCTV recorders export: raw elementary streams and Dahua's DAV. None of these demuxers opens
    # another file or URL.
    "h264": "video/h264", "hevc": "video/h265", "dhav": "video/x-dav",
}
FORMAT_WHITELIST = ",".join(CONTAINERS)
_PRESIGN_QUERY = re.compile(r"\?[^\s'\"]*")
# "[mov,mp4,... @ 0x55d1c0] moov atom not found": the pointer differs every run, which would make
# identical failures look different in logs and stored errors.
_CONTEXT_POINTER = re.compile(r" @ 0x[0-9a-fA-F]+\]")


class Timeout(Exception):
    """The process ran past its time and was killed."""


def is_http(target: str) -> bool:
    return target.lower().startswith(("http://", "https://"))


def seconds(value: float) -> str:
    return f"{value:.6f}"


def validate_range(start_s: float, end_s: float | None) -> None:
    """A [start_s, end_s) cut of a recording: finite, start >= 0, end (if any) after start."""
    if not (isinstance(start_s, (int, float)) and math.isfinite(start_s) and start_s >= 0):
        raise ValueError(f"start_s must be a finite number >= 0, not {start_s!r}")
    if end_s is not None:
        if not (isinstance(end_s, (int, float)) and math.isfinite(end_s)):
            raise ValueError(f"end_s must be a finite number or None, not {end_s!r}")
        if end_s <= start_s:
            raise ValueError(f"end_s ({end_s:g}) must be after start_s ({start_s:g})")


def input_options(target: str) -> tuple[str, dict[str, object]]:
    """The input name and input options that make ffmpeg/ffprobe read *target* and nothing else."""
    opts: dict[str, object] = {"format_whitelist": FORMAT_WHITELIST}
    if is_http(target):
        opts.update(rw_timeout=HTTP_RW_TIMEOUT_US, protocol_whitelist=_HTTP_PROTOCOLS)
        return target, opts
    # "file:" keeps a path containing ':' from being read as a protocol and one starting
    # with '-' from being read as an option.
    opts["protocol_whitelist"] = _FILE_PROTOCOLS
    return "file:" + target, opts


def options(opts: dict[str, object]) -> list[str]:
    """``{"f": "mp4"}`` as ``["-f", "mp4"]``, in the dict's order."""
    return [arg for key, value in opts.items() for arg in (f"-{key}", str(value))]


def input_args(target: str, *, start_s: float | None = None, length_s: float | None = None) -> list[str]:
    """``... -i NAME`` reading *target* (a local path or an http URL) with the whitelists; an input-side
    ``-ss`` seeks in the demuxer, so nothing before the start is read or decoded."""
    name, opts = input_options(os.fspath(target))
    timing = ([] if start_s is None else ["-ss", seconds(start_s)]) + \
        ([] if length_s is None else ["-t", seconds(length_s)])
    return options(opts) + timing + ["-i", name]


def ffmpeg_command(*parts: Sequence[str]) -> list[str]:
    """The ffmpeg argv: the binary, the flags every run gets (no stdin, errors only, overwrite), *parts*."""
    return [FFMPEG, *GLOBAL_ARGS, *(arg for part in parts for arg in part)]


def ffprobe_command(target: str) -> list[str]:
    """The ffprobe argv describing *target*'s format and streams as JSON."""
    name, opts = input_options(os.fspath(target))
    # enable_drefs is the mov demuxer's own option (off by default, and ffprobe accepts it for any
    # input): said here so that no build default can make a reference inside a mov get opened.
    return [FFPROBE, "-v", "error", "-hide_banner", "-enable_drefs", "0", *options(opts),
            "-show_format", "-show_streams", "-of", "json", name]


def run(args: list[str], *, timeout_s: float) -> subprocess.CompletedProcess[bytes]:
    """Run *args* without stdin or proxy settings; :class:`Timeout` once *timeout_s* has passed. A
    missing binary raises (a broken install, not bad media: the job should fail loudly)."""
    try:
        return subprocess.run(args, capture_output=True, timeout=timeout_s, stdin=subprocess.DEVNULL,
                              check=False, env=ffmpeg_env())
    except subprocess.TimeoutExpired:
        raise Timeout(f"{_program(args)} timed out after {timeout_s:g} s") from None


def _program(args: Sequence[str]) -> str:
    return "ffprobe" if args[0] == FFPROBE else "ffmpeg"


def redact_url(text: str, target: str) -> str:
    """Presigned URLs carry credentials in the query string; ffmpeg echoes its input URL in errors, and
    errors end up in logs and the database."""
    if not is_http(target):
        return text
    parts = urlsplit(target)
    safe = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    text = text.replace(target, safe)
    return _PRESIGN_QUERY.sub("?…", text)


def first_useful_line(stderr: str) -> str:
    for line in stderr.splitlines():
        line = line.strip()
        if line:
            return _CONTEXT_POINTER.sub("]", line)
    return ""


def failure(proc: subprocess.CompletedProcess[bytes], target: str) -> str:
    """What went wrong, in one line without credentials: ffmpeg's first message, else its exit status."""
    stderr = redact_url(proc.stderr.decode("utf-8", "replace"), target)
    return first_useful_line(stderr) or f"{_program(proc.args)} exited with {proc.returncode}"
