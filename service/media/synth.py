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


def _run(args: list[str], path: Path) -> Path:
    proc = _ffmpeg.run(args, timeout_s=600)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed making {path.name}: {proc.stderr.decode(errors='replace')}")
    return path


# The containers CCTV and legacy systems export, each as ffmpeg writes it: (format, video, audio options).
CONTAINER_RECIPES: dict[str, tuple[str, list[str], list[str] | None]] = {
    "avi": ("avi", ["-c:v", "mjpeg", "-q:v", "5"], ["-c:a", "pcm_s16le"]),  # AVI/MJPEG
    "264": ("h264", ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"], None),  # raw H.264
    "ts": ("mpegts", ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"], ["-c:a", "mp2"]),
    "wmv": ("asf", ["-c:v", "wmv2"], ["-c:a", "wmav2"]),  # ASF/WMV
    "mkv": ("matroska", ["-c:v", "mpeg4"], ["-c:a", "pcm_s16le"]),  # Matroska with codecs browsers lack
}


def make_container(path: str | os.PathLike[str], kind: str, seconds: float = 2, width: int = 320,
                   height: int = 240, fps: int = 25) -> Path:
    """A short test-pattern clip in one of :data:`CONTAINER_RECIPES` (``dav``: :func:`make_dav`)."""
    path = Path(path)
    if kind == "dav":
        return make_dav(path, seconds=seconds, width=width, height=height, fps=fps)
    fmt, vopts, aopts = CONTAINER_RECIPES[kind]
    path.parent.mkdir(parents=True, exist_ok=True)
    inputs = ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}"]
    maps = ["-map", "0:v"]
    if aopts is not None:
        inputs += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
        maps += ["-map", "1:a"]
    return _run(_ffmpeg.ffmpeg_command(inputs, maps, vopts, aopts or [], ["-t", str(seconds), "-f", fmt,
                                                                          "file:" + str(path)]), path)


AUDIO_RECIPES = {"wav": ("wav", ["-c:a", "pcm_s16le"]), "mp3": ("mp3", ["-c:a", "libmp3lame"]),
                 "aac": ("adts", ["-c:a", "aac"]), "opus": ("ogg", ["-c:a", "libopus"]),
                 "m4a": ("mp4", ["-c:a", "aac"])}


def make_audio(path: str | os.PathLike[str], kind: str = "wav", seconds: float = 3, tone_hz: int = 440,
               sample_rate: int = 48000) -> Path:
    """A sine tone as an audio-only recording (a 999 call, an interview): WAV, MP3, AAC, Opus or M4A."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt, opts = AUDIO_RECIPES[kind]
    return _run(_ffmpeg.ffmpeg_command(["-f", "lavfi", "-i", f"sine=frequency={tone_hz}:sample_rate={sample_rate}"],
                                       opts, ["-t", str(seconds), "-f", fmt, "file:" + str(path)]), path)


def _dhav_frame(number: int, payload: bytes, key: bool, date: int, ms: int, width: int, height: int,
                fps: int) -> bytes:
    import struct

    # Extensions: 0x81 (codec 2 = H.264, frame rate) and 0x82 (width, height), as Dahua recorders write.
    ext = bytes([0x81, 0, 0x02, fps]) + bytes([0x82, 0, 0, 0]) + struct.pack("<HH", width, height)
    length = 24 + len(ext) + len(payload) + 8
    head = b"DHAV" + bytes([0xFD if key else 0xFC, 0, 0, 0]) + struct.pack("<III", number, length, date)
    head += struct.pack("<HBB", ms & 0xFFFF, len(ext), 0)
    return head + ext + payload + b"dhav" + struct.pack("<I", length)


def make_dav(path: str | os.PathLike[str], seconds: float = 2, width: int = 320, height: int = 240,
             fps: int = 25) -> Path:
    """A Dahua DAV file as CCTV recorders export it (no muxer exists in ffmpeg): H.264 access units in DHAV
    frames with the recorder's packed wall-clock date and millisecond counter."""
    import tempfile
    from datetime import datetime, timedelta

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "v.264"
        _run(_ffmpeg.ffmpeg_command(["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}"],
                                    ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                                     "-x264-params", "aud=1:keyint=25", "-t", str(seconds), "-f", "h264",
                                     "file:" + str(raw)]), raw)
        data = raw.read_bytes()
    aud = b"\x00\x00\x00\x01\x09"
    units = [aud + u for u in data.split(aud) if u]
    start = datetime(2026, 11, 30, 10, 0, 0)
    frames = []
    for i, unit in enumerate(units):
        ms = i * 1000 // fps
        t = start + timedelta(milliseconds=ms)
        date = (t.second | t.minute << 6 | t.hour << 12 | t.day << 17 | t.month << 22 | (t.year - 2000) << 26)
        key = b"\x00\x00\x01\x65" in unit or b"\x00\x00\x00\x01\x65" in unit
        frames.append(_dhav_frame(i, unit, key, date, ms, width, height, fps))
    path.write_bytes(b"".join(frames))
    return path
