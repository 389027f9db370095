"""Blurring regions of yuv420p frames beyond recovery, for :mod:`service.media.redact`. Finding the
faces is :mod:`service.media.detectors` (which detector) and :mod:`service.media.tracks` (which face
is where in every frame).

Blurring averages a region down to a few cells and smooths it back up: the output holds nothing
finer than a few samples across a face, and no block edges for a sharpening filter to work on.
"""

from __future__ import annotations

import cv2
import numpy as np

CELLS = 6  # a blurred region keeps at most this many samples across its longer side
MIN_CELL_PX = 4

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 in output frame pixels


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

