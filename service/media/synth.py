"""Synthetic footage made by the real ffmpeg (lavfi ``testsrc2`` + ``sine``): used by ``bwv demo``,
the tests and the benchmarks, so everything is exercised on what an encoder actually writes."""

from __future__ import annotations

import os
from pathlib import Path

import ffmpeg


def make_clip(path: str | os.PathLike[str], seconds: float = 3, width: int = 320, height: int = 240,
              fps: int = 25, gop_s: float = 2.0, audio: bool = True, tone_hz: int = 440,
              faststart: bool = True) -> Path:
    """Encode an H.264/AAC MP4 with a key frame exactly every ``gop_s`` seconds.

    Fixed GOPs (keyint_min = g, no scene-cut key frames) make key-frame positions predictable, which
    the clip tests rely on. ``faststart=False`` leaves the moov atom at the end, as a camera that
    writes while recording does; truncating such a file loses the index.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    gop = max(1, round(fps * gop_s))
    inputs = [ffmpeg.input(f"testsrc2=size={width}x{height}:rate={fps}", f="lavfi")]
    if audio:
        inputs.append(ffmpeg.input(f"sine=frequency={tone_hz}:sample_rate=48000", f="lavfi"))
    out_kwargs: dict[str, object] = {
        "t": seconds,
        "vcodec": "libx264", "preset": "ultrafast", "pix_fmt": "yuv420p",
        "g": gop, "keyint_min": gop, "sc_threshold": 0,
        "f": "mp4",
    }
    if audio:
        out_kwargs["acodec"] = "aac"
    if faststart:
        out_kwargs["movflags"] = "+faststart"
    # Both lavfi sources are endless; -t on the output stops them together.
    stream = ffmpeg.output(*inputs, str(path), **out_kwargs)
    try:
        stream.overwrite_output().global_args("-nostdin", "-v", "error").run(capture_stdout=True,
                                                                             capture_stderr=True)
    except ffmpeg.Error as exc:
        raise RuntimeError(f"ffmpeg failed making {path.name}: {exc.stderr.decode(errors='replace')}") from exc
    return path
