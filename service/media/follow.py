"""A handler's box that follows what it covers (a number plate, a screen) with sparse optical flow.

Corners inside the box are tracked from frame to frame (pyramidal Lucas-Kanade) and checked backwards
(a point that does not return to where it started is dropped); the box moves by their median shift
and grows or shrinks by the median change of their spread. When too few points survive, the object
is taken as lost: the box stays where it was last seen until its end time (blurring too much is the
safe side) and the log says when and where it was lost. Points are re-seeded inside the box every
few frames, so a box is not left following the few corners it started with.
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_POINTS = 6
RESEED_EVERY = 5
FB_ERROR_PX = 1.5  # forward-backward distance beyond which a point is not trusted
LK = {"winSize": (15, 15), "maxLevel": 3,
      "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)}


class Follower:
    """One box in the scan's (scaled) picture; ``box`` is x0, y0, x1, y1 in that picture."""

    def __init__(self, box: tuple[float, float, float, float], size: tuple[int, int]) -> None:
        self.box = box
        self.size = size
        self.points: np.ndarray | None = None
        self.prev: np.ndarray | None = None
        self.lost_at: int | None = None
        self.steps = 0

    def _seed(self, gray: np.ndarray) -> None:
        x0, y0, x1, y1 = (int(round(v)) for v in self.box)
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(self.size[0], max(x0 + 1, x1)), min(self.size[1], max(y0 + 1, y1))
        mask = np.zeros_like(gray)
        mask[y0:y1, x0:x1] = 255
        pts = cv2.goodFeaturesToTrack(gray, maxCorners=80, qualityLevel=0.01, minDistance=3, mask=mask)
        self.points = pts if pts is not None else np.empty((0, 1, 2), np.float32)

    def step(self, gray: np.ndarray, frame: int) -> tuple[float, float, float, float]:
        """The box in *gray* (the next frame of the range)."""
        if self.lost_at is not None:
            return self.box
        if self.prev is None:
            self.prev = gray
            self._seed(gray)
            if len(self.points) < MIN_POINTS:
                self.lost_at = frame  # nothing to follow: a flat region stays put
            return self.box
        new, ok, _ = cv2.calcOpticalFlowPyrLK(self.prev, gray, self.points, None, **LK)
        back, ok2, _ = cv2.calcOpticalFlowPyrLK(gray, self.prev, new, None, **LK)
        good = (ok.ravel() == 1) & (ok2.ravel() == 1) & (
            np.linalg.norm((back - self.points).reshape(-1, 2), axis=1) < FB_ERROR_PX)
        old_p, new_p = self.points.reshape(-1, 2)[good], new.reshape(-1, 2)[good]
        self.prev = gray
        if len(new_p) < MIN_POINTS:
            self.lost_at = frame
            return self.box
        dx, dy = np.median(new_p - old_p, axis=0)
        scale = 1.0
        if len(new_p) >= 2:
            d_old = np.linalg.norm(old_p - old_p.mean(0), axis=1)
            d_new = np.linalg.norm(new_p - new_p.mean(0), axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios = d_new[d_old > 1] / d_old[d_old > 1]
            if len(ratios):
                scale = float(np.clip(np.median(ratios), 0.8, 1.25))
        x0, y0, x1, y1 = self.box
        cx, cy = (x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy
        hw, hh = (x1 - x0) * scale / 2, (y1 - y0) * scale / 2
        self.box = (cx - hw, cy - hh, cx + hw, cy + hh)
        self.steps += 1
        if self.steps % RESEED_EVERY == 0:
            self._seed(gray)
        else:
            self.points = new_p.reshape(-1, 1, 2).astype(np.float32)
        if len(self.points) < MIN_POINTS or not (cx >= 0 and cy >= 0 and cx <= self.size[0] and cy <= self.size[1]):
            self.lost_at = frame
        return self.box
