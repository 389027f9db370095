"""Finding faces (OpenCV's bundled Haar cascades, so no model is downloaded at run time) and blurring
regions of yuv420p frames beyond recovery, for :mod:`service.media.redact`.

Detection runs on a downscaled, histogram-equalised copy of the luma plane: at full 720p size the
three cascade passes cost several times more for faces a bodycam shows far larger than the minimum.
Blurring averages a region down to a few cells and smooths it back up: the output holds nothing
finer than a few samples across a face, and no block edges for a sharpening filter to work on.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_profileface.xml")
DETECT_LONG_SIDE = 640  # px; faces under ~MIN_SIZE/640 of the frame's long side are not found
SCALE_FACTOR = 1.2  # 1.1 finds the same faces here at twice the cost
MIN_NEIGHBORS = 4
MIN_SIZE = 24  # px at the detection scale
BOX_MARGIN = 0.25  # of the box's size, on each side: Haar boxes stop at the brow and chin
CELLS = 6  # a blurred region keeps at most this many samples across its longer side
MIN_CELL_PX = 4

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 in output frame pixels


class FaceFinder:
    def __init__(self, width: int, height: int) -> None:
        base = Path(cv2.data.haarcascades)
        self.frontal, self.profile = (cv2.CascadeClassifier(str(base / name)) for name in CASCADES)
        if self.frontal.empty() or self.profile.empty():
            raise RuntimeError(f"OpenCV's Haar face cascades are missing from {base}")
        self.scale = min(1.0, DETECT_LONG_SIDE / max(width, height))
        self.small = (max(1, round(width * self.scale)), max(1, round(height * self.scale)))
        self.width, self.height = width, height

    def find(self, luma: np.ndarray) -> list[Rect]:
        small = cv2.resize(luma, self.small, interpolation=cv2.INTER_AREA) if self.scale < 1 else luma
        small = cv2.equalizeHist(small)  # night footage: Haar features need contrast
        kw = {"scaleFactor": SCALE_FACTOR, "minNeighbors": MIN_NEIGHBORS, "minSize": (MIN_SIZE, MIN_SIZE)}
        found = [tuple(r) for r in self.frontal.detectMultiScale(small, **kw)]
        found += [tuple(r) for r in self.profile.detectMultiScale(small, **kw)]
        sw = small.shape[1]
        found += [(sw - x - w, y, w, h) for x, y, w, h in self.profile.detectMultiScale(cv2.flip(small, 1), **kw)]
        rects = []
        for x, y, w, h in found:
            m = BOX_MARGIN * max(w, h)
            rects.append(self._clip((x - m) / self.scale, (y - m) / self.scale,
                                    (x + w + m) / self.scale, (y + h + m) / self.scale))
        return merge(rects)

    def _clip(self, x0: float, y0: float, x1: float, y1: float) -> Rect:
        return (max(0, math.floor(x0)), max(0, math.floor(y0)),
                min(self.width, math.ceil(x1)), min(self.height, math.ceil(y1)))


SWEEP_REACH = 3.0  # a face this many box sides from where it was is taken to have moved there


def sweeps(before: list[Rect], after: list[Rect]) -> list[Rect]:
    """Boxes covering a face's whole path between two rounds: a face that moved from one box to a
    nearby one passed over the space between them, which neither box covers when it moved fast."""
    out = []
    for a in before:
        for b in after:
            reach = SWEEP_REACH * max(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1])
            if math.dist(((a[0] + a[2]) / 2, (a[1] + a[3]) / 2), ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)) <= reach:
                out.append((min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])))
    return out


def merge(rects: list[Rect]) -> list[Rect]:
    """Overlapping boxes (the same face from two cascades or two rounds) become their bounding box,
    so a face is blurred and counted once."""
    out: list[Rect] = []
    for r in rects:
        r = tuple(r)
        merged = True
        while merged:
            merged = False
            for i, o in enumerate(out):
                if r[0] < o[2] and o[0] < r[2] and r[1] < o[3] and o[1] < r[3]:
                    r = (min(r[0], o[0]), min(r[1], o[1]), max(r[2], o[2]), max(r[3], o[3]))
                    del out[i]
                    merged = True
                    break
        out.append(r)
    return out


def obscure(plane: np.ndarray) -> None:
    h, w = plane.shape
    if h < 1 or w < 1:
        return
    cell = max(MIN_CELL_PX, -(-max(h, w) // CELLS))
    coarse = cv2.resize(plane, (max(1, -(-w // cell)), max(1, -(-h // cell))), interpolation=cv2.INTER_AREA)
    smooth = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
    k = cell | 1
    plane[:] = cv2.GaussianBlur(smooth, (k, k), 0)  # no block edges left for a sharpener to work on


class Frame:
    def __init__(self, buf: np.ndarray, width: int, height: int) -> None:
        cw, ch = width // 2, height // 2
        self.buf = buf
        self.luma = buf[:width * height].reshape(height, width)
        self.chroma = (buf[width * height:width * height + cw * ch].reshape(ch, cw),
                       buf[width * height + cw * ch:].reshape(ch, cw))

    def blur(self, r: Rect) -> None:
        x0, y0, x1, y1 = r
        obscure(self.luma[y0:y1, x0:x1])
        for plane in self.chroma:
            obscure(plane[y0 // 2:(y1 + 1) // 2, x0 // 2:(x1 + 1) // 2])

