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
import json
import math
import os
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import ffmpeg
import numpy as np

from service.media import faces as F
from service.media.clip import _GLOBAL_ARGS, FFMPEG, _input_target, _seconds, _validate, mp4_duration
from service.media.faces import FaceFinder, Frame, Rect, merge, sweeps
from service.media.framepipe import FramePipe, PipeError
from service.media.probe import (
    MAX_ERROR_CHARS,
    _first_useful_line,
    _redact,
    _refers_elsewhere,
    parse_probe,
    probe_command,
)
from service.media.source import MediaSource, StoredObject, ffmpeg_env, ffmpeg_input

DETECTS_PER_S = 2.5  # rounds per second of video: what keeps 720p above real time on 2 cores
HOLD_ROUNDS = 2  # a face stays blurred this many rounds after it was last found
PRESET, CRF = "veryfast", 20
SLACK_S = 0.05


class RedactionError(Exception):
    """ffmpeg could not make the redacted copy. The message is short and holds no URL query string."""


@dataclass(frozen=True)
class Box:
    """A region to blur: pixels in the source frame, times in the SOURCE recording's seconds."""
    start_s: float
    end_s: float
    x: int
    y: int
    w: int
    h: int


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
    log: dict  # JSON-serialisable: what was done, how, with which detector and encoder


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


# ---- the source ------------------------------------------------------------------------------------

@dataclass
class _Source:
    width: int  # as decoded: ffmpeg turns rotated footage upright, so these are the displayed sides
    height: int
    fps: Fraction
    audio: bool
    duration_s: float | None
    rotation: int


def _fps(stream: dict) -> Fraction:
    for key in ("avg_frame_rate", "r_frame_rate"):
        try:
            rate = Fraction(stream.get(key) or "0")
        except (ValueError, ZeroDivisionError):
            continue
        if 1 <= rate <= 240:  # phones report 90000/1 or 0/0 for variable-rate footage
            return rate.limit_denominator(1001)
    return Fraction(25)


def _read_source(source: MediaSource, timeout_s: float) -> _Source:
    # probe() does not report the frame rate, so its command is run here and the JSON
    # read for it; parse_probe keeps the rest identical to what the recording's probe stored.
    with ffmpeg_input(source) as target:
        try:
            proc = subprocess.run(probe_command(target), capture_output=True, timeout=min(timeout_s, 120),
                                  stdin=subprocess.DEVNULL, check=False, env=ffmpeg_env())
        except subprocess.TimeoutExpired:
            raise RedactionError(f"ffprobe timed out after {min(timeout_s, 120):g} s") from None
    if proc.returncode != 0:
        detail = _first_useful_line(_redact(proc.stderr.decode("utf-8", "replace"), target))
        raise RedactionError(f"unreadable source: {detail or proc.returncode}"[:MAX_ERROR_CHARS])
    try:
        data = json.loads(proc.stdout.decode("utf-8", "replace"))
    except ValueError:
        raise RedactionError("unreadable source: ffprobe printed invalid JSON") from None
    info = parse_probe(data)
    if info.readable and (info.container or "").startswith("mov,") and _refers_elsewhere(source):
        raise RedactionError("unreadable source: a track's samples are in another file")
    video = next((s for s in data.get("streams") or [] if s.get("codec_type") == "video"
                  and not (s.get("disposition") or {}).get("attached_pic")), None)
    if not info.readable or video is None or not info.width or not info.height:
        raise RedactionError(f"unreadable source: {info.error or 'no video stream'}"[:MAX_ERROR_CHARS])
    rotation = info.rotation
    w, h = (info.height, info.width) if rotation % 180 == 90 else (info.width, info.height)
    return _Source(w, h, _fps(video), info.audio_codec is not None, info.duration_s, rotation)


# ---- commands --------------------------------------------------------------------------------------

def _decode_command(source: str, start_s: float, length_s: float, src: _Source) -> list[str]:
    target, in_opts = _input_target(source)
    video = ffmpeg.input(target, ss=_seconds(start_s), t=_seconds(length_s), **in_opts)["v:0"]
    if src.width % 2 or src.height % 2:  # yuv420p (and H.264 in it) needs even sides
        video = video.filter("crop", src.width - src.width % 2, src.height - src.height % 2, 0, 0)
    # A fixed output rate: frame i is at exactly i/fps, which is what box times are matched against
    # and what the encoder is told, so video and audio stay in step on variable-rate footage too.
    out = ffmpeg.output(video, "pipe:1", format="rawvideo", pix_fmt="yuv420p", r=str(src.fps))
    args = out.compile(cmd=FFMPEG)
    return args[:1] + _GLOBAL_ARGS + args[1:]


def _mute_expression(mute: Sequence[MuteRange], start_s: float) -> str:
    # After an input-side -ss, filter time t restarts at 0: shift to the output's timeline.
    return "+".join(f"between(t,{_seconds(max(0.0, m.start_s - start_s))},{_seconds(m.end_s - start_s)})"
                    for m in mute)


def _encode_command(source: str, out_path: str, start_s: float, length_s: float, size: tuple[int, int],
                    src: _Source, mute: Sequence[MuteRange]) -> list[str]:
    frames = ffmpeg.input("pipe:0", format="rawvideo", pix_fmt="yuv420p", s=f"{size[0]}x{size[1]}",
                          framerate=str(src.fps))
    streams = [frames]
    opts: dict[str, object] = {"vcodec": "libx264", "preset": PRESET, "crf": CRF, "pix_fmt": "yuv420p",
                               "movflags": "+faststart", "f": "mp4"}
    if src.audio:
        target, in_opts = _input_target(source)
        # Only the first audio track: any other would go out unmuted.
        audio = ffmpeg.input(target, ss=_seconds(start_s), t=_seconds(length_s), **in_opts)["a:0"]
        if mute:
            audio = audio.filter("volume", volume=0, enable=_mute_expression(mute, start_s))
        streams.append(audio)
        opts["acodec"] = "aac"
    args = ffmpeg.output(*streams, "file:" + out_path, **opts).compile(cmd=FFMPEG)
    return args[:1] + _GLOBAL_ARGS + args[1:]



class _Progress:
    def __init__(self, callback: Callable[[float], None] | None, expected: int) -> None:
        self.callback, self.expected, self.sent = callback, max(1, expected), 0.0

    def frame(self, done: int) -> None:
        value = min(0.99, done / self.expected)  # 1.0 only once the file is in place
        if self.callback is not None and value - self.sent >= 0.01:
            self.sent = value
            self.callback(value)

    def done(self) -> None:
        if self.callback is not None:
            self.callback(1.0)


def _detector_log(finder: FaceFinder | None, every: int) -> dict:
    if finder is None:
        return {"name": "none", "enabled": False}
    return {"name": "opencv-haar", "enabled": True, "opencv_version": cv2.__version__,
            "cascades": [F.CASCADES[0], F.CASCADES[1], F.CASCADES[1] + " (mirrored frame)"],
            "scale_factor": F.SCALE_FACTOR, "min_neighbors": F.MIN_NEIGHBORS, "min_size": [F.MIN_SIZE] * 2,
            "detect_size": list(finder.small), "min_face_px": math.ceil(F.MIN_SIZE / finder.scale),
            "equalize_hist": True, "detect_every_n_frames": every, "box_margin": F.BOX_MARGIN,
            "hold_frames": HOLD_ROUNDS * every, "look_ahead_frames": every - 1,
            "look_ahead_frames_when_lost": (HOLD_ROUNDS + 1) * every - 1,
            "path_between_rounds": f"covered when within {F.SWEEP_REACH:g} box sides"}


def redact(source: MediaSource, out_path: str, *, clip_start_s: float = 0.0, clip_end_s: float | None = None,
           auto_faces: bool, boxes: Sequence[Box] = (), mute: Sequence[MuteRange] = (),
           progress: Callable[[float], None] | None = None, timeout_s: float = 3600,
           source_duration_s: float | None = None) -> RedactionResult:
    """Write a redacted H.264/AAC copy of [clip_start_s, clip_end_s) of *source* to *out_path*.

    Box and mute times are in the source's seconds; the output starts at ``clip_start_s``. Boxes are
    in the frame as decoded, which for footage with a rotation flag is the upright (displayed) frame.
    ``progress`` gets fractions 0..1, at most every 1 %, from the calling thread, 1.0 once
    *out_path* is in place. The source is only read. Raises ``ValueError`` for a plan that cannot be
    applied and :class:`RedactionError` when ffmpeg fails or runs past ``timeout_s``.
    """
    if not isinstance(source, StoredObject):
        source = os.fspath(source)
    out_path = os.fspath(out_path)
    _validate(clip_start_s, clip_end_s)
    deadline = time.monotonic() + timeout_s  # one budget for the probe and the two processes
    src = _read_source(source, timeout_s)
    known = source_duration_s if source_duration_s is not None else src.duration_s
    start = float(clip_start_s)
    end = float(clip_end_s) if clip_end_s is not None else known
    if end is None:
        raise ValueError("the source's duration is unknown: pass clip_end_s")
    if known is not None and start >= known:
        raise ValueError(f"clip_start_s ({start:g}) is at or past the end of the source ({known:g} s)")
    boxes, mute = list(boxes), list(mute)
    check_plan(width=src.width, height=src.height, clip_start_s=start, clip_end_s=end, boxes=boxes, mute=mute)
    stop = min(end, known) if known is not None else end  # ffmpeg stops at end of file anyway
    width, height = src.width - src.width % 2, src.height - src.height % 2
    frame_bytes = width * height + 2 * (width // 2) * (height // 2)
    step = 1 / float(src.fps)
    every = max(1, round(float(src.fps) / DETECTS_PER_S))
    finder = FaceFinder(width, height) if auto_faces else None
    manual = [(b, (b.x, b.y, min(width, b.x + b.w), min(height, b.y + b.h)), [0]) for b in boxes]
    report = _Progress(progress, round((stop - start) * float(src.fps)))

    out_dir = os.path.dirname(os.path.abspath(out_path))
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".redact-", suffix=".mp4")
    os.close(fd)
    frames = frames_with_faces = face_boxes = 0
    spans: list[list[float]] = []  # [from, to, most faces at once], source seconds
    inputs = contextlib.ExitStack()  # one loopback token per ffmpeg process, gone when it is
    try:
        decode_from = inputs.enter_context(ffmpeg_input(source))
        encode_from = inputs.enter_context(ffmpeg_input(source))
        pipes = FramePipe(_decode_command(decode_from, start, end - start, src),
                          _encode_command(encode_from, tmp, start, end - start, (width, height), src, mute),
                          frame_bytes, max(0.0, deadline - time.monotonic()))
        try:
            def emit(buf: np.ndarray, index: int, faces: list[Rect]) -> None:
                nonlocal frames, frames_with_faces, face_boxes
                frame, t = Frame(buf, width, height), start + index * step
                for rect in faces:
                    frame.blur(rect)
                for b, rect, used in manual:
                    if t < b.end_s and t + step > b.start_s:  # shown at any moment of the range
                        frame.blur(rect)
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

            rounds: deque[list[Rect]] = deque(maxlen=HOLD_ROUNDS + 1)
            held: list[Rect] = []  # faces of the last few rounds: what a round's own frame gets
            anchor: list[Rect] = []  # what was held when the frames in pending started
            pending: list[tuple[np.ndarray, int]] = []  # frames waiting for a later round
            lost = 0  # rounds in a row that found nothing while faces were held

            def detect_round(buf: np.ndarray, index: int, last: bool = False) -> None:
                nonlocal held, anchor, lost
                found = finder.find(Frame(buf, width, height).luma)
                rounds.append(found)
                held = merge([r for rs in rounds for r in rs])
                if not found and anchor and lost < HOLD_ROUNDS and not last:
                    # Lost for now: a later round may say where the face went, and the frames in
                    # between need its whole path, so they wait (at most the hold) for that round.
                    lost += 1
                    pending.append((buf, index))
                    return
                lost = 0
                between = merge(anchor + found + sweeps(anchor, found))
                for b, i in pending:
                    emit(b, i, between)
                pending.clear()
                emit(buf, index, held)
                anchor = held

            index = 0
            for buf in pipes.frames():
                if finder is None:
                    emit(buf, index, [])
                elif index % every == 0:
                    detect_round(buf, index)
                else:
                    pending.append((buf, index))
                index += 1
            if pending:  # a face entering in the last frames still needs a round to find it
                detect_round(*pending.pop(), last=True)
            pipes.finish()
        except PipeError as e:
            if pipes.timed_out:  # the pipe only knows the time left after probing
                raise RedactionError(f"ffmpeg timed out after {timeout_s:g} s") from None
            raise RedactionError(_redact(_redact(str(e), decode_from), encode_from)[:MAX_ERROR_CHARS]) from None
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
    log = {
        "method": {"name": "pixelate + gaussian blur", "cells_across": F.CELLS, "min_cell_px": F.MIN_CELL_PX,
                   "gaussian_kernel": "cell size (odd)", "planes": ["Y", "U", "V"], "irreversible": True},
        "detector": _detector_log(finder, every),
        "clip": [start, end],
        "source_frame": {"width": src.width, "height": src.height, "fps": str(src.fps),
                         "rotation": src.rotation, "audio": src.audio},
        "boxes": [{**asdict(b), "frames": used[0]} for b, _rect, used in manual],
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
                           face_boxes=face_boxes, log=log)


async def redact_async(source: MediaSource, out_path: str, *, clip_start_s: float = 0.0,
                       clip_end_s: float | None = None, auto_faces: bool, boxes: Sequence[Box] = (),
                       mute: Sequence[MuteRange] = (), progress: Callable[[float], None] | None = None,
                       timeout_s: float = 3600, source_duration_s: float | None = None) -> RedactionResult:
    """:func:`redact` off the event loop; ``progress`` is then called from a worker thread."""
    return await asyncio.to_thread(redact, source, out_path, clip_start_s=clip_start_s,
                                   clip_end_s=clip_end_s, auto_faces=auto_faces, boxes=boxes, mute=mute,
                                   progress=progress, timeout_s=timeout_s, source_duration_s=source_duration_s)
