"""Synthetic footage made by the real ffmpeg (lavfi ``testsrc2`` + ``sine``): used by ``bwv demo``,
the tests and the benchmarks, so everything is exercised on what an encoder actually writes."""

from __future__ import annotations

import os
from pathlib import Path

from service.media import _ffmpeg


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
    inputs = ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}"]
    maps = ["-map", "0"]
    out: dict[str, object] = {"f": "mp4", "g": gop, "keyint_min": gop, "pix_fmt": "yuv420p",
                              "preset": "ultrafast", "sc_threshold": 0, "vcodec": "libx264"}
    if audio:
        inputs += ["-f", "lavfi", "-i", f"sine=frequency={tone_hz}:sample_rate=48000"]
        maps += ["-map", "1"]
        out["acodec"] = "aac"
    if faststart:
        out["movflags"] = "+faststart"
    # Both lavfi sources are endless; -t on the output stops them together.
    out["t"] = seconds
    proc = _ffmpeg.run(_ffmpeg.ffmpeg_command(inputs, maps, _ffmpeg.options(out), ["file:" + str(path)]),
                       timeout_s=600)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed making {path.name}: {proc.stderr.decode(errors='replace')}")
    return path
