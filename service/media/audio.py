"""Audio-only recordings (999 calls, interviews: WAV, MP3, AAC, Opus): the SAR redaction is a mute, since
there is no picture to blur. The output is AAC in an M4A (audio/mp4), muted over the ranges (in the
source's seconds) and starting at ``clip_start_s``, with the same kind of log the video redaction writes."""

from __future__ import annotations

import asyncio
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from service.media import _ffmpeg
from service.media.probe import probe
from service.media.redact import MuteRange, RedactionResult
from service.media.source import MediaSource, ffmpeg_input

BITRATE = "128k"


def mute_filter(mute: Sequence[MuteRange], start_s: float) -> str:
    """Silence each range; filter time restarts at 0 after the input-side seek, hence the shift."""
    if not mute:
        return "anull"
    spans = "+".join(f"between(t,{max(0.0, m.start_s - start_s):.6f},{m.end_s - start_s:.6f})" for m in mute)
    return f"volume=volume=0:enable='{spans}'"


def mute(source: MediaSource, out_path: str, *, clip_start_s: float = 0.0, clip_end_s: float | None = None,
         mute: Sequence[MuteRange] = (), source_duration_s: float | None = None,
         timeout_s: float = 3600) -> RedactionResult:
    """Write [clip_start_s, clip_end_s) of *source*'s first audio track, muted over *mute*, to *out_path*."""
    _ffmpeg.validate_range(clip_start_s, clip_end_s)
    end = clip_end_s if clip_end_s is not None else source_duration_s
    for m in mute:
        if not (math.isfinite(m.start_s) and math.isfinite(m.end_s) and 0 <= m.start_s < m.end_s):
            raise ValueError(f"mute range {m.start_s!r}-{m.end_s!r} is not a range of seconds")
    out_path = os.fspath(out_path)
    length = None if end is None else end - clip_start_s
    tmp = out_path + ".part"
    with ffmpeg_input(source) as target:
        args = _ffmpeg.ffmpeg_command(_ffmpeg.input_args(target, start_s=clip_start_s, length_s=length),
                                      ["-map", "0:a:0", "-af", mute_filter(mute, clip_start_s), "-c:a", "aac",
                                       "-b:a", BITRATE, "-movflags", "+faststart", "-f", "mp4", "file:" + tmp])
        try:
            proc = _ffmpeg.run(args, timeout_s=timeout_s)
        except _ffmpeg.Timeout as e:
            raise _error(str(e)) from None
        if proc.returncode != 0:
            raise _error(_ffmpeg.failure(proc, target))
    os.replace(tmp, out_path)
    duration = probe(out_path).duration_s
    log = {"method": {"name": "mute", "filter": "volume=0 over each range", "irreversible": True},
           "detector": {"name": "none", "enabled": False, "why": "audio only: nothing to see"},
           "clip": [clip_start_s, end], "tracks": [], "boxes": [],
           "mute": [{**asdict(m), "output_s": [round(max(0.0, m.start_s - clip_start_s), 3),
                                                round(m.end_s - clip_start_s, 3)]} for m in mute],
           "audio": "first audio track only" + (", muted over the ranges" if mute else ""),
           "encoder": {"video": None, "audio": "aac", "bitrate": BITRATE, "container": "m4a +faststart"}}
    return RedactionResult(path=out_path, size_bytes=Path(out_path).stat().st_size, duration_s=duration, width=0,
                           height=0, frames=0, frames_with_faces=0, face_boxes=0, log=log)


def _error(message: str) -> Exception:
    from service.media.frames import RedactionError

    return RedactionError(message)


async def mute_async(source: MediaSource, out_path: str, **kwargs) -> RedactionResult:
    return await asyncio.to_thread(mute, source, out_path, **kwargs)


def rms_dbfs(path: str | os.PathLike[str], start_s: float, end_s: float, timeout_s: float = 120) -> float:
    """The RMS level of [start_s, end_s) of a file's first audio track in dBFS (-inf for digital silence):
    how a test or an operator checks that a mute really silenced what it should."""
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "pcm.raw")
        args = _ffmpeg.ffmpeg_command(_ffmpeg.input_args(os.fspath(path), start_s=start_s, length_s=end_s - start_s),
                                      ["-map", "0:a:0", "-ac", "1", "-f", "s16le", "-acodec", "pcm_s16le",
                                       "file:" + raw])
        proc = _ffmpeg.run(args, timeout_s=timeout_s)
        if proc.returncode != 0:
            raise ValueError(_ffmpeg.failure(proc, os.fspath(path)))
        samples = np.fromfile(raw, dtype="<i2").astype(np.float64) / 32768.0
    if samples.size == 0:
        raise ValueError("no audio in that range")
    rms = float(np.sqrt(np.mean(samples ** 2)))
    return 20 * math.log10(rms) if rms > 0 else float("-inf")
