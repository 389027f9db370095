"""The first pass over a range: faces found and linked into tracks, handlers' boxes followed.

The range is decoded once more, scaled down to what the detector wants and as RGB, with the same
seek and frame rate as the redaction's own decode (:mod:`service.media.frames`), so frame i here is
frame i there. Because every track is complete before a single frame is blurred, a face is covered
from before its first detection to after its last (:mod:`service.media.tracks`).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import cv2
import numpy as np

from service.media import detectors
from service.media._ffmpeg import MAX_ERROR_CHARS, redact_url
from service.media.detectors import Detector
from service.media.follow import Follower
from service.media.framepipe import FramePipe, PipeError
from service.media.frames import RedactionError, Source, decode_command, read_source
from service.media.source import StoredObject, ffmpeg_input
from service.media.tracks import Box, Linker, Track

DETECTS_PER_S = 6.0  # rounds per second of video (bench/faces.py: what keeps 720p above real time)
BOX_MARGIN = 0.25  # of the face box's side, on each side: hair, ears and chin are outside it
MARGIN_S = 0.4  # a track is covered this long before its first and after its last detection
FOLLOW_LONG_SIDE = 640
THUMB_PX = 96


@dataclass
class Followed:
    boxes: dict[int, Box] = field(default_factory=dict)  # frame -> box, full-frame pixels
    lost_frame: int | None = None
    lost_box: Box | None = None


@dataclass
class Scan:
    width: int
    height: int
    fps: Fraction
    frames: int
    every: int
    margin_frames: int
    detector: dict | None
    tracks: list[Track]  # boxes in full-frame pixels, margin included
    thumbnails: dict[int, bytes]  # track id -> JPEG
    followed: dict[int, Followed]  # plan box index -> where it went

    def seconds(self, frame: int, start_s: float) -> float:
        return round(start_s + frame / float(self.fps), 3)


def scan_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    s = min(1.0, long_side / max(width, height))
    return max(2, round(width * s / 2) * 2), max(2, round(height * s / 2) * 2)


def _thumbnail(rgb: np.ndarray, box: Box) -> bytes:
    x0, y0, x1, y1 = box
    h, w = rgb.shape[:2]
    crop = rgb[max(0, int(y0)):min(h, math.ceil(y1)), max(0, int(x0)):min(w, math.ceil(x1))]
    if crop.size == 0:
        crop = rgb[:1, :1]
    k = THUMB_PX / max(crop.shape[:2])
    crop = cv2.resize(crop, (max(1, round(crop.shape[1] * k)), max(1, round(crop.shape[0] * k))),
                      interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC)
    return cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def scan(source: str, src: Source, *, start_s: float, end_s: float, detector: Detector | None,
         follow: Sequence[tuple[int, float, float, Box]] = (), timeout_s: float = 3600,
         progress: Callable[[float], None] | None = None) -> Scan:
    """Tracks of faces in [start_s, end_s) of *source* (an ffmpeg input string) and, for each
    ``(index, start_s, end_s, box)`` in *follow*, the box moved along with what it covers."""
    width, height = src.width - src.width % 2, src.height - src.height % 2
    long_side = detector.long_side if detector is not None else FOLLOW_LONG_SIDE
    dw, dh = scan_size(width, height, long_side)
    sx, sy = width / dw, height / dh
    fps = float(src.fps)
    every = max(1, round(fps / DETECTS_PER_S))
    margin = max(every, math.ceil(MARGIN_S * fps))
    linker = Linker()
    thumbs: dict[int, tuple[float, bytes]] = {}
    followers: dict[int, Follower] = {}
    followed = {i: Followed() for i, *_ in follow}
    step = 1 / fps
    expected = max(1, round((end_s - start_s) * fps))
    sent = 0.0

    def full(b: np.ndarray | Box) -> Box:
        return (float(b[0]) * sx, float(b[1]) * sy, float(b[2]) * sx, float(b[3]) * sy)

    pipe = FramePipe(decode_command(source, start_s, end_s - start_s, src, (dw, dh), "rgb24"), None,
                     dw * dh * 3, timeout_s)
    index = 0
    try:
        for buf in pipe.frames():
            rgb = buf.reshape(dh, dw, 3)
            t = start_s + index * step
            if detector is not None and index % every == 0:
                found = detector.detect(rgb)
                dets = []
                for x0, y0, x1, y1, score in found:
                    m = BOX_MARGIN * max(x1 - x0, y1 - y0)
                    dets.append(((x0 - m, y0 - m, x1 + m, y1 + m), float(score)))
                linker.round(index, dets)
                for track in linker.active:
                    if track.last == index and track.best() == len(track.frames) - 1:
                        thumbs[track.id] = (track.scores[-1], _thumbnail(rgb, track.boxes[-1]))
            live = [(i, a, b, box) for i, a, b, box in follow if t < b and t + step > a]
            if live:
                gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
                for i, _a, _b, box in live:
                    f = followers.get(i)
                    if f is None:
                        f = followers[i] = Follower((box[0] / sx, box[1] / sy, box[2] / sx, box[3] / sy), (dw, dh))
                    was_lost = f.lost_at is not None
                    moved = f.step(gray, index)
                    followed[i].boxes[index] = full(moved)
                    if f.lost_at is not None and not was_lost:
                        followed[i].lost_frame, followed[i].lost_box = f.lost_at, full(moved)
            index += 1
            if progress is not None and index / expected - sent >= 0.01:
                sent = min(0.99, index / expected)
                progress(sent)
        pipe.finish()
    except PipeError as e:
        if pipe.timed_out:
            raise RedactionError(f"ffmpeg timed out after {timeout_s:g} s") from None
        raise RedactionError(redact_url(str(e), source)[:MAX_ERROR_CHARS]) from None
    finally:
        pipe.cleanup()
    if not index:
        raise RedactionError("no video frames in the range (is it inside the recording?)")
    tracks = linker.tracks()
    for t in tracks:
        t.boxes = [_clip(full(b), width, height) for b in t.boxes]
    return Scan(width=width, height=height, fps=src.fps, frames=index, every=every, margin_frames=margin,
                detector=detector.describe() | {"detect_every_n_frames": every, "box_margin": BOX_MARGIN,
                                                "scan_size": [dw, dh], "hold_rounds": linker.hold_rounds,
                                                "margin_frames": margin}
                if detector is not None else None,
                tracks=tracks, thumbnails={k: v[1] for k, v in thumbs.items()}, followed=followed)


def _clip(b: Box, width: int, height: int) -> Box:
    return (max(0.0, b[0]), max(0.0, b[1]), min(float(width), b[2]), min(float(height), b[3]))



def find_faces(source, *, clip_start_s: float = 0.0, clip_end_s: float | None = None,
               source_duration_s: float | None = None, detector: str | None = None, timeout_s: float = 3600,
               progress: Callable[[float], None] | None = None) -> Scan:
    """Face tracks of [clip_start_s, clip_end_s) of *source* (a path or a stored object), as the
    redaction's own first pass finds them: frame 0 is ``clip_start_s``."""
    if not isinstance(source, StoredObject):
        source = os.fspath(source)
    deadline = time.monotonic() + timeout_s
    src = read_source(source, timeout_s)
    known = source_duration_s if source_duration_s is not None else src.duration_s
    end = clip_end_s if clip_end_s is not None else known
    if end is None:
        raise ValueError("the source's duration is unknown: pass clip_end_s")
    with ffmpeg_input(source) as target:
        return scan(target, src, start_s=float(clip_start_s), end_s=float(end), detector=detectors.make(detector),
                    timeout_s=max(1.0, deadline - time.monotonic()), progress=progress)
