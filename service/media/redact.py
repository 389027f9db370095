"""Redacted copies for subject access: faces blurred, the handler's boxes blurred, audio muted.

One ffmpeg decodes the range to raw yuv420p frames on a pipe; Python blurs each frame in place; a
second ffmpeg encodes the frames with the ORIGINAL file's audio (same input-side seek, volume set
to 0 over the mute ranges) to H.264/AAC MP4 (:mod:`service.media.framepipe`). yuv420p end to end:
the luma plane is the grayscale the detector wants, and nothing is converted to RGB and back.

Faces (:mod:`service.media.faces`) cost far more to find than to blur, so detection runs in rounds
every few frames. The frames between two rounds are held back until the second round has run and
get the faces of both, so a face walking into view is covered from the frame after the earlier
round, not from the later one; and a face stays covered for a few rounds after it was last found,
because Haar loses faces for a round or two (a turned head, motion blur) and a face that flickers
into view is a disclosure. Only a temporary file beside ``out_path`` is written until the copy is
complete; the source is only ever read.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from service.media._ffmpeg import (
    MAX_ERROR_CHARS,
    ffmpeg_command,
    input_args,
    options,
    redact_url,
    seconds,
    validate_range,
)
from service.media.clip import mp4_duration
from service.media.frames import RedactionError, Source, decode_command, read_source
from service.media.source import MediaSource, StoredObject, ffmpeg_input
from service.media.tracks import Box as Rect
from service.media.tracks import Track, frame_boxes

if TYPE_CHECKING:
    from service.media.scan import Scan

PRESET, CRF = "veryfast", 20
SLACK_S = 0.05


@dataclass(frozen=True)
class Box:
    """A region to blur: pixels in the source frame, times in the SOURCE recording's seconds."""
    start_s: float
    end_s: float
    x: int
    y: int
    w: int
    h: int
    follow: bool = False  # move with what it covers (service.media.follow)


@dataclass(frozen=True)
class MuteRange:
    """Audio to silence, in the SOURCE recording's seconds."""
    start_s: float
    end_s: float


@dataclass
class RedactionResult:
    path: str
    size_bytes: int
    duration_s: float | None
    width: int
    height: int
    frames: int
    frames_with_faces: int  # frames where the detector blurred at least one face
    face_boxes: int  # face boxes blurred, summed over frames
    log: dict
    scan: Scan | None = None  # the first pass, when one ran (tracks, thumbnails, followed boxes)  # JSON-serialisable: what was done, how, with which detector and encoder


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_plan(*, width: int, height: int, clip_start_s: float, clip_end_s: float,
               boxes: Sequence[Box], mute: Sequence[MuteRange]) -> None:
    """Raise ``ValueError`` naming the first box or mute range that cannot be applied as asked."""
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        raise ValueError(f"frame size must be positive whole pixels, not {width!r}x{height!r}")
    if not (_number(clip_start_s) and _number(clip_end_s) and 0 <= clip_start_s < clip_end_s):
        raise ValueError(f"clip [{clip_start_s!r}, {clip_end_s!r}] must be finite with 0 <= start < end")
    lo, hi = clip_start_s - SLACK_S, clip_end_s + SLACK_S

    def times(what: str, start: object, end: object) -> None:
        if not (_number(start) and _number(end)):
            raise ValueError(f"{what}: start_s and end_s must be finite numbers")
        if start < 0 or end < 0:
            raise ValueError(f"{what}: times must not be negative")
        if end <= start:
            raise ValueError(f"{what}: end_s ({end:g}) must be after start_s ({start:g})")
        if start < lo or end > hi:
            raise ValueError(f"{what}: [{start:g}, {end:g}] s is not inside the clip "
                             f"[{clip_start_s:g}, {clip_end_s:g}] s")

    for i, b in enumerate(boxes):
        what = f"box {i}"
        times(what, b.start_s, b.end_s)
        for name in ("x", "y", "w", "h"):
            v = getattr(b, name)
            if not (_number(v) and float(v).is_integer()):
                raise ValueError(f"{what}: {name} must be a whole number of pixels, not {v!r}")
            if v < 0:
                raise ValueError(f"{what}: {name} must not be negative")
        if b.w <= 0 or b.h <= 0:
            raise ValueError(f"{what}: w and h must be positive, not {b.w}x{b.h}")
        if b.x + b.w > width or b.y + b.h > height:
            raise ValueError(f"{what}: ({b.x}, {b.y}) {b.w}x{b.h} reaches outside the "
                             f"{width}x{height} frame")
    for i, m in enumerate(mute):
        times(f"mute range {i}", m.start_s, m.end_s)


def _mute_expression(mute: Sequence[MuteRange], start_s: float) -> str:
    # After an input-side -ss, filter time t restarts at 0: shift to the output's timeline.
    return "+".join(f"between(t,{seconds(max(0.0, m.start_s - start_s))},{seconds(m.end_s - start_s)})"
                    for m in mute)


def encode_command(source: str, out_path: str, start_s: float, length_s: float, size: tuple[int, int],
                   src: Source, mute: Sequence[MuteRange]) -> list[str]:
    """The ffmpeg argv that encodes raw yuv420p frames from stdin to H.264/AAC MP4, with the first audio
    track of *source* (same seek) muted over *mute*."""
    frames = options({"f": "rawvideo", "pix_fmt": "yuv420p", "s": f"{size[0]}x{size[1]}",
                      "framerate": str(src.fps)}) + ["-i", "pipe:0"]
    mapping = ["-map", "0:v:0"]
    audio: list[str] = []
    if src.audio:
        audio = input_args(source, start_s=start_s, length_s=length_s)
        # Only the first audio track: any other would go out unmuted.
        mapping += ["-map", "1:a:0"]
        if mute:
            # A comma inside a filter's option would end the filter unless escaped.
            enable = _mute_expression(mute, start_s).replace(",", "\\,")
            mapping += ["-filter:a", f"volume=enable={enable}:volume=0"]
    out = {"vcodec": "libx264", "preset": PRESET, "crf": CRF, "pix_fmt": "yuv420p", "movflags": "+faststart",
           **({"acodec": "aac"} if src.audio else {}), "f": "mp4"}
    return ffmpeg_command(frames, audio, mapping, options(out), ["file:" + out_path])


class _Progress:
    def __init__(self, callback: Callable[[float], None] | None, expected: float) -> None:
        self.callback, self.expected, self.sent, self.skip = callback, max(1.0, expected), 0.0, 0.0

    def frame(self, done: int) -> None:
        self.fraction((self.skip + done) / self.expected)

    def fraction(self, value: float) -> None:
        value = min(0.99, value)  # 1.0 only once the file is in place
        if self.callback is not None and value - self.sent >= 0.01:
            self.sent = value
            self.callback(value)

    def done(self) -> None:
        if self.callback is not None:
            self.callback(1.0)


def _tracks_log(tracks: Sequence[Track], keep: set[int], frames: int, start: float, fps: float,
                margin: int) -> list[dict]:
    out = []
    for t in tracks[:1000]:
        first, last = max(0, t.first - margin), min(frames - 1, t.last + margin)
        out.append({"id": t.id, "action": "kept" if t.id in keep else "blurred",
                    "start_s": round(start + first / fps, 3), "end_s": round(start + (last + 1) / fps, 3),
                    "detections": len(t.frames), "best_score": round(max(t.scores), 3)})
    return out


def redact(source: MediaSource, out_path: str, *, clip_start_s: float = 0.0, clip_end_s: float | None = None,
           auto_faces: bool, boxes: Sequence[Box] = (), mute: Sequence[MuteRange] = (),
           progress: Callable[[float], None] | None = None, timeout_s: float = 3600,
           source_duration_s: float | None = None, tracks: Sequence[Track] | None = None,
           keep_tracks: Sequence[int] = (), margin_frames: int | None = None, detector: str | None = None,
           tracks_from: dict | None = None) -> RedactionResult:
    """Write a redacted H.264/AAC copy of [clip_start_s, clip_end_s) of *source* to *out_path*.

    Box and mute times are in the source's seconds; the output starts at ``clip_start_s``. Boxes are
    in the frame as decoded, which for footage with a rotation flag is the upright (displayed) frame.
    With ``auto_faces`` a first pass finds face tracks (or *tracks* are given: a stored scan of the
    same range, frame numbers counted from ``clip_start_s``, covered ``margin_frames`` either side);
    every track not in ``keep_tracks`` is blurred in every frame it covers. Boxes with ``follow``
    move with what they cover. ``progress`` gets fractions 0..1, at most every 1 %, from the calling
    thread, 1.0 once *out_path* is in place. The source is only read. Raises ``ValueError`` for a
    plan that cannot be applied and :class:`RedactionError` when ffmpeg fails or runs past ``timeout_s``.
    """
    # OpenCV and NumPy (~60 MB resident) load with the first redaction, not in every API process.
    from service.media import detectors
    from service.media import faces as F
    from service.media.faces import Frame
    from service.media.framepipe import FramePipe, PipeError
    from service.media.scan import scan

    if not isinstance(source, StoredObject):
        source = os.fspath(source)
    out_path = os.fspath(out_path)
    validate_range(clip_start_s, clip_end_s)
    deadline = time.monotonic() + timeout_s  # one budget for the probe, the scan and the redaction
    src = read_source(source, timeout_s)
    known = source_duration_s if source_duration_s is not None else src.duration_s
    start = float(clip_start_s)
    end = float(clip_end_s) if clip_end_s is not None else known
    if end is None:
        raise ValueError("the source's duration is unknown: pass clip_end_s")
    if known is not None and start >= known:
        raise ValueError(f"clip_start_s ({start:g}) is at or past the end of the source ({known:g} s)")
    boxes, mute = list(boxes), list(mute)
    check_plan(width=src.width, height=src.height, clip_start_s=start, clip_end_s=end, boxes=boxes, mute=mute)
    keep = set(keep_tracks)
    if keep and tracks is None:
        raise ValueError("keep_tracks needs the tracks they name (a stored face scan)")
    if keep - {t.id for t in tracks or ()}:
        raise ValueError(f"unknown track(s) {sorted(keep - {t.id for t in tracks or ()})}")
    stop = min(end, known) if known is not None else end  # ffmpeg stops at end of file anyway
    width, height = src.width - src.width % 2, src.height - src.height % 2
    frame_bytes = width * height + 2 * (width // 2) * (height // 2)
    step = 1 / float(src.fps)
    follow = [(i, b.start_s, b.end_s, (b.x, b.y, min(width, b.x + b.w), min(height, b.y + b.h)))
              for i, b in enumerate(boxes) if b.follow]
    need_faces = auto_faces and tracks is None
    scanned = None
    scan_share = 0.4 if need_faces or follow else 0.0
    report = _Progress(progress, round((stop - start) * float(src.fps)) / max(0.01, 1 - scan_share))
    if need_faces or follow:
        with ffmpeg_input(source) as target:
            scanned = scan(target, src, start_s=start, end_s=end,
                           detector=detectors.make(detector) if need_faces else None, follow=follow,
                           timeout_s=max(1.0, deadline - time.monotonic()),
                           progress=None if progress is None else (lambda f: report.fraction(f * scan_share)))
    if need_faces:
        tracks, margin_frames = scanned.tracks, scanned.margin_frames
    tracks = list(tracks or []) if auto_faces else []
    margin = margin_frames or 0
    every = scanned.every if need_faces else int((tracks_from or {}).get("detector", {}).get("detect_every_n_frames") or 1)
    # Clipped to the frame when blurred (_pixels): a path grown across missed rounds may reach past it.
    faces_at = frame_boxes([t for t in tracks if t.id not in keep], margin, 1 << 40, every)
    manual = [(b, (b.x, b.y, min(width, b.x + b.w), min(height, b.y + b.h)), [0]) for b in boxes]
    report.skip = report.expected * scan_share

    out_dir = os.path.dirname(os.path.abspath(out_path))
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".redact-", suffix=".mp4")
    os.close(fd)
    frames = frames_with_faces = face_boxes = 0
    spans: list[list[float]] = []  # [from, to, most faces at once], source seconds
    inputs = contextlib.ExitStack()  # one loopback token per ffmpeg process, gone when it is
    try:
        decode_from = inputs.enter_context(ffmpeg_input(source))
        encode_from = inputs.enter_context(ffmpeg_input(source))
        pipes = FramePipe(decode_command(decode_from, start, end - start, src),
                          encode_command(encode_from, tmp, start, end - start, (width, height), src, mute),
                          frame_bytes, max(0.0, deadline - time.monotonic()))
        try:
            for buf in pipes.frames():
                frame, t = Frame(buf, width, height), start + frames * step
                faces = [_pixels(r, width, height) for r in faces_at.get(frames, ())]
                for rect in faces:
                    frame.blur(rect)
                for i, (b, rect, used) in enumerate(manual):
                    if t < b.end_s and t + step > b.start_s:  # shown at any moment of the range
                        moved = scanned.followed[i].boxes.get(frames) if b.follow else None
                        frame.blur(_pixels(moved, width, height) if moved is not None else rect)
                        used[0] += 1
                if faces:
                    frames_with_faces += 1
                    face_boxes += len(faces)
                    if spans and abs(spans[-1][1] - t) < step / 2:
                        spans[-1][1], spans[-1][2] = t + step, max(spans[-1][2], len(faces))
                    else:
                        spans.append([t, t + step, len(faces)])
                pipes.emit(buf)
                frames += 1
                report.frame(frames)
            pipes.finish()
        except PipeError as e:
            if pipes.timed_out:  # the pipe only knows the time left after probing
                raise RedactionError(f"ffmpeg timed out after {timeout_s:g} s") from None
            raise RedactionError(redact_url(redact_url(str(e), decode_from), encode_from)[:MAX_ERROR_CHARS]) from None
        finally:
            pipes.cleanup()
        if not frames:
            raise RedactionError("no video frames in the range (is it inside the recording?)")
        duration, _tracks = mp4_duration(tmp)
        os.replace(tmp, out_path)
    finally:
        inputs.close()
        if os.path.exists(tmp):
            os.unlink(tmp)
    report.done()
    fps = float(src.fps)
    detector_log = ({"name": "none", "enabled": False} if not auto_faces
                    else {"enabled": True, **scanned.detector} if need_faces
                    else {"enabled": True, **(tracks_from or {}).get("detector", {}),
                          "tracks_from": {k: v for k, v in (tracks_from or {}).items() if k != "detector"}})
    followed = []
    for i, (b, _rect, used) in enumerate(manual):
        entry = {**asdict(b), "frames": used[0]}
        if b.follow:
            f = scanned.followed[i]
            entry["lost_at_s"] = None if f.lost_frame is None else round(start + f.lost_frame * step, 3)
            entry["lost_box"] = None if f.lost_box is None else [round(v) for v in f.lost_box]
            entry["method"] = "optical flow (pyramidal Lucas-Kanade, forward-backward checked)"
        followed.append(entry)
    log = {
        "method": {"name": "pixelate + gaussian blur", "cells_across": F.CELLS, "min_cell_px": F.MIN_CELL_PX,
                   "gaussian_kernel": "cell size (odd)", "planes": ["Y", "U", "V"], "irreversible": True},
        "detector": detector_log,
        "clip": [start, end],
        "source_frame": {"width": src.width, "height": src.height, "fps": str(src.fps),
                         "rotation": src.rotation, "audio": src.audio},
        "tracks": _tracks_log(tracks, keep, frames, start, fps, margin),
        "tracks_truncated": len(tracks) > 1000,
        "boxes": followed,
        "mute": [{**asdict(m), "output_s": [round(max(0.0, m.start_s - start), 3), round(m.end_s - start, 3)]}
                 for m in mute],
        "audio": ("first audio track only" + (", muted over the ranges" if mute else "")) if src.audio else None,
        "encoder": {"video": "libx264", "preset": PRESET, "crf": CRF, "pix_fmt": "yuv420p",
                    "audio": "aac" if src.audio else None, "container": "mp4 +faststart"},
        "face_spans": [[round(a, 3), round(b, 3), n] for a, b, n in spans[:1000]],
        "face_spans_truncated": len(spans) > 1000,
    }
    return RedactionResult(path=out_path, size_bytes=Path(out_path).stat().st_size, duration_s=duration,
                           width=width, height=height, frames=frames, frames_with_faces=frames_with_faces,
                           face_boxes=face_boxes, log=log, scan=scanned)


def _pixels(r: Rect, width: int, height: int) -> tuple[int, int, int, int]:
    return (max(0, math.floor(r[0])), max(0, math.floor(r[1])),
            min(width, math.ceil(r[2])), min(height, math.ceil(r[3])))


async def redact_async(source: MediaSource, out_path: str, **kwargs) -> RedactionResult:
    """:func:`redact` off the event loop; ``progress`` is then called from a worker thread."""
    return await asyncio.to_thread(redact, source, out_path, **kwargs)
