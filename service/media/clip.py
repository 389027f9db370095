"""Cut a clip out of a recording with ffmpeg: stream copy by default, re-encoded on request.

Stream copy is fast (no decoding) but can only start on a key frame: with an input-side ``-ss``
ffmpeg seeks to the key frame at or before the asked start, and ``avoid_negative_ts=make_zero``
keeps that lead-in as visible footage starting at 0. A copy clip therefore starts up to one GOP
early (never late) and ends where asked. Without ``make_zero`` the mp4 muxer would hide the
lead-in behind an edit list instead; players that ignore edit lists would then show footage the
file claims not to hold, which is worse for an exhibit than footage that is plainly there.
``accurate=True`` decodes and re-encodes (libx264/aac) so the clip is frame exact.

The command is built and run by :mod:`service.media._ffmpeg`, with its input whitelists and a
timeout: a stalled read must not pin a worker.
"""

from __future__ import annotations

import asyncio
import io
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

from service.media import _ffmpeg
from service.media._ffmpeg import (
    MAX_ERROR_CHARS,
    Timeout,
    failure,
    ffmpeg_command,
    input_args,
    is_http,
    options,
    seconds,
    validate_range,
)
from service.media.isobmff import boxes, refers_elsewhere
from service.media.probe import probe
from service.media.source import MediaSource, StoredObject, ffmpeg_input

# A moov bigger than this is not something our own muxer wrote for a clip; fall back to ffprobe.
_MAX_MOOV_BYTES = 64 * 1024 * 1024


class ClipError(Exception):
    """ffmpeg could not make the clip. The message is short and holds no URL query string."""


@dataclass
class ClipResult:
    path: str
    start_s: float  # as asked; a copy clip's footage may begin up to one GOP earlier
    end_s: float | None  # as asked (None: to the end of the source)
    duration_s: float | None  # measured on the written file
    accurate: bool
    size_bytes: int


# Audio the mp4 muxer carries as it is; anything else (PCM from a WAV, A-law from a CCTV recorder) is
# re-encoded to AAC while the video is still copied.
MP4_AUDIO = frozenset({"aac", "mp3", "opus", "alac", "flac", "ac3", "eac3"})


def cut_command(target: str, out_path: str, start_s: float, end_s: float | None, *,
                accurate: bool = False, copy_audio: bool = True) -> list[str]:
    """The ffmpeg argv that writes the clip [start_s, end_s) of *target* (a local path or http URL)
    to *out_path* (mp4)."""
    # Input-side -ss: a seek in the demuxer, so nothing before the start is read or decoded. When
    # re-encoding, ffmpeg (>= 2.1) then drops the decoded frames before the exact start itself.
    # Only video and audio: cameras add data tracks (GPS, timecode) that the mp4 muxer may refuse.
    # "?" makes each optional, so audio-less footage cuts too.
    out: dict[str, object] = {"f": "mp4"}
    if accurate:
        out.update(acodec="aac", crf=18, movflags="+faststart", preset="veryfast", vcodec="libx264")
    else:
        out.update({"avoid_negative_ts": "make_zero", "c": "copy", "movflags": "+faststart"})
        if not copy_audio:
            out.update({"c:a": "aac"})
    if end_s is not None:
        # -t, not -to: after an input-side -ss, output timestamps start again from 0.
        out["t"] = seconds(end_s - start_s)
    return ffmpeg_command(input_args(target, start_s=start_s), ["-map", "0:v?", "-map", "0:a?"], options(out),
                          ["file:" + os.fspath(out_path)])


def mp4_duration(path: str | os.PathLike[str]) -> tuple[float | None, int]:
    """(duration from the movie header, number of tracks) of a local mp4/mov file.

    This is the figure ffprobe reports as the format duration of an mp4, read in well under a
    millisecond instead of starting an ffprobe process (~0.1 s, as long as a short copy cut takes).
    Seeks over mdat, so it is cheap wherever the index sits. (None, 0) when there is no usable header.
    """
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(0)
        for kind, off, length in boxes(f, size):
            if kind != b"moov":
                continue
            if length > _MAX_MOOV_BYTES:
                return None, 0
            f.seek(off)
            moov = f.read(length)
            return _parse_moov(moov)
    return None, 0


def _parse_moov(moov: bytes) -> tuple[float | None, int]:
    duration: float | None = None
    tracks = 0
    f = io.BytesIO(moov)
    for kind, off, length in boxes(f, len(moov)):
        if kind == b"trak":
            tracks += 1
        elif kind == b"mvhd" and length >= 20:
            version = moov[off]
            if version == 1 and length >= 32:
                timescale, dur = struct.unpack_from(">IQ", moov, off + 20)
                unknown = dur == 0xFFFFFFFFFFFFFFFF
            else:
                timescale, dur = struct.unpack_from(">II", moov, off + 12)
                unknown = dur == 0xFFFFFFFF
            if timescale and not unknown:
                duration = dur / timescale
    return duration, tracks


def _source_duration(source: MediaSource, timeout_s: float) -> float | None:
    if not isinstance(source, StoredObject) and not is_http(os.fspath(source)):
        try:
            duration, tracks = mp4_duration(source)
        except OSError:
            return None  # missing/unreadable: ffmpeg reports it properly
        if duration is not None and tracks:
            return duration
    info = probe(source, timeout_s=timeout_s)
    return info.duration_s if info.readable else None


def cut(source: MediaSource, out_path: str, start_s: float, end_s: float | None, *, accurate: bool = False,
        timeout_s: float = 600, source_duration_s: float | None = None, copy_audio: bool = True) -> ClipResult:
    """Write [start_s, end_s) of *source* (a local path, an http URL or a stored object) to *out_path* as mp4.

    ``end_s=None`` or an end past the source's end cuts to the end of the source (ffmpeg simply
    stops at end of file). A start at or past the end raises ``ValueError``: a copy cut would
    otherwise silently return the source's last GOP, and a re-encode an empty file. To know the
    end, pass ``source_duration_s`` (the recording's stored probe result; nothing extra runs),
    else it is read from a local mp4's header, or by ffprobe for a URL or another container.

    *out_path* appears only complete: ffmpeg writes a temporary file beside it that is renamed
    on success and removed on failure. Raises :class:`ClipError` when ffmpeg fails or times out.
    """
    if not isinstance(source, StoredObject):
        source = os.fspath(source)
    out_path = os.fspath(out_path)
    validate_range(start_s, end_s)
    start_s, end_s = float(start_s), (None if end_s is None else float(end_s))
    if source_duration_s is None:
        source_duration_s = _source_duration(source, timeout_s)
    if source_duration_s is not None and start_s >= source_duration_s:
        raise ValueError(f"start_s ({start_s:g}) is at or past the end of the source "
                         f"({source_duration_s:g} s)")

    if refers_elsewhere(source):
        # ffmpeg would leave the referenced track out (it may not open it) and make a clip of less
        # than the recording claims to hold: for an exhibit, refuse instead.
        raise ClipError("cut failed: a track's samples are in another file (external data reference)")

    out_dir = os.path.dirname(os.path.abspath(out_path))
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".clip-", suffix=".mp4")
    os.close(fd)
    try:
        with ffmpeg_input(source) as target:
            try:
                proc = _ffmpeg.run(cut_command(target, tmp, start_s, end_s, accurate=accurate,
                                                       copy_audio=copy_audio), timeout_s=timeout_s)
            except Timeout as e:
                raise ClipError(str(e)) from None
            if proc.returncode != 0:
                raise ClipError(f"cut failed: {failure(proc, target)}"[:MAX_ERROR_CHARS])
        duration, tracks = mp4_duration(tmp)
        if duration is None:
            info = probe(tmp, timeout_s=min(timeout_s, 120))
            duration, tracks = info.duration_s, (1 if info.readable else 0)
        if not tracks or not duration:
            raise ClipError("cut produced no audio or video (is the range inside the recording?)")
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return ClipResult(path=out_path, start_s=start_s, end_s=end_s, duration_s=duration,
                      accurate=accurate, size_bytes=Path(out_path).stat().st_size)


async def cut_async(source: MediaSource, out_path: str, start_s: float, end_s: float | None, *,
                    accurate: bool = False, timeout_s: float = 600,
                    source_duration_s: float | None = None, copy_audio: bool = True) -> ClipResult:
    """:func:`cut` off the event loop (ffmpeg is a blocking subprocess)."""
    return await asyncio.to_thread(cut, source, out_path, start_s, end_s, accurate=accurate,
                                   timeout_s=timeout_s, source_duration_s=source_duration_s, copy_audio=copy_audio)
